package hatoba.controls.aws_lambda_not_public_test

import data.hatoba.controls.aws_lambda_not_public
import rego.v1

test_service_principal_passes if {
	count(aws_lambda_not_public.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_lambda_permission", "id": "aws_lambda_permission-1", "config": {"function_name": "f", "principal": "s3.amazonaws.com", "source_arn": "arn:aws:s3:::b"}},
		{"type": "aws_lambda_function_url", "id": "aws_lambda_function_url-1", "config": {"function_name": "f", "authorization_type": "AWS_IAM"}},
	]}
}

test_public_permission_is_denied if {
	count(aws_lambda_not_public.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_lambda_permission", "id": "aws_lambda_permission-1", "config": {"function_name": "f", "principal": "*"}},
	]}
}

test_unauthenticated_url_is_denied if {
	count(aws_lambda_not_public.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_lambda_function_url", "id": "aws_lambda_function_url-1", "config": {"function_name": "f", "authorization_type": "NONE"}},
	]}
}
