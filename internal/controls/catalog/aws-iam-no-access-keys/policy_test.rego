package hatoba.controls.aws_iam_no_access_keys_test

import data.hatoba.controls.aws_iam_no_access_keys
import rego.v1

test_access_key_is_denied if {
	count(aws_iam_no_access_keys.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_iam_access_key", "id": "aws_iam_access_key-1", "config": {"user": "ci", "status": "Active"}},
	]}
}

test_role_passes if {
	count(aws_iam_no_access_keys.deny) == 0 with input as {"hatoba_resources": [{"type": "aws_iam_role", "id": "aws_iam_role-1", "config": {"name": "app"}}]}
}

test_terraform_plan_is_read if {
	count(aws_iam_no_access_keys.deny) == 1 with input as {"resource_changes": [
		{"mode": "managed", "type": "aws_iam_access_key", "address": "aws_iam_access_key.this", "change": {"actions": ["create"], "after": {"user": "ci"}}},
	]}
}
