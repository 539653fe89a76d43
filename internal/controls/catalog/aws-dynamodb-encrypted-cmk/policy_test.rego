package hatoba.controls.aws_dynamodb_encrypted_cmk_test

import data.hatoba.controls.aws_dynamodb_encrypted_cmk
import rego.v1

test_customer_key_passes if {
	count(aws_dynamodb_encrypted_cmk.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_dynamodb_table", "id": "aws_dynamodb_table-1", "config": {"name": "t", "server_side_encryption": [{"enabled": true, "kms_key_arn": "arn:aws:kms:ap-northeast-1:111122223333:key/k"}]}},
	]}
}

test_aws_owned_key_is_denied if {
	count(aws_dynamodb_encrypted_cmk.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_dynamodb_table", "id": "aws_dynamodb_table-1", "config": {"name": "t", "server_side_encryption": []}},
	]}
}

test_terraform_plan_key_known_after_apply_passes if {
	count(aws_dynamodb_encrypted_cmk.deny) == 0 with input as {"resource_changes": [
		{"mode": "managed", "type": "aws_dynamodb_table", "address": "aws_dynamodb_table.this", "change": {"actions": ["create"], "after": {"name": "t", "server_side_encryption": [{"enabled": true}]}, "after_unknown": {"server_side_encryption": [{"kms_key_arn": true}]}}},
	]}
}
