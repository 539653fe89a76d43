package hatoba.controls.aws_cloudtrail_log_validation_test

import data.hatoba.controls.aws_cloudtrail_log_validation
import rego.v1

test_validated_passes if {
	count(aws_cloudtrail_log_validation.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_cloudtrail", "id": "aws_cloudtrail-1", "config": {"name": "org", "enable_log_file_validation": true}},
	]}
}

test_unvalidated_is_denied if {
	count(aws_cloudtrail_log_validation.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_cloudtrail", "id": "aws_cloudtrail-1", "config": {"name": "org", "enable_log_file_validation": false}},
	]}
}
