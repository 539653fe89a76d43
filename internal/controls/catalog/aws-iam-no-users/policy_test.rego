package hatoba.controls.aws_iam_no_users_test

import data.hatoba.controls.aws_iam_no_users
import rego.v1

test_iam_user_is_denied if {
	count(aws_iam_no_users.deny) == 1 with input as {"hatoba_resources": [{"type": "aws_iam_user", "id": "u1", "config": {"name": "alice"}}]}
}

test_no_iam_user_passes if {
	count(aws_iam_no_users.deny) == 0 with input as {"hatoba_resources": [{"type": "aws_iam_role", "id": "r1", "config": {}}]}
}

test_terraform_plan_is_read if {
	plan := {"resource_changes": [{"mode": "managed", "type": "aws_iam_user", "address": "aws_iam_user.a", "change": {"actions": ["create"], "after": {"name": "a"}}}]}
	count(aws_iam_no_users.deny) == 1 with input as plan
}
