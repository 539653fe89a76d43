package hatoba.controls.aws_efs_encrypted_test

import data.hatoba.controls.aws_efs_encrypted
import rego.v1

test_customer_key_passes if {
	count(aws_efs_encrypted.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_efs_file_system", "id": "aws_efs_file_system-1", "config": {"encrypted": true, "kms_key_id": "arn:aws:kms:ap-northeast-1:111122223333:key/k"}},
	]}
}

test_unencrypted_is_denied if {
	count(aws_efs_encrypted.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_efs_file_system", "id": "aws_efs_file_system-1", "config": {"encrypted": false}},
	]}
}

test_terraform_plan_is_read if {
	count(aws_efs_encrypted.deny) == 1 with input as {"resource_changes": [
		{"mode": "managed", "type": "aws_efs_file_system", "address": "aws_efs_file_system.this", "change": {"actions": ["create"], "after": {"creation_token": "x"}}},
	]}
}
