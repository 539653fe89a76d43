package hatoba.controls.aws_iam_password_policy_test

import data.hatoba.controls.aws_iam_password_policy
import rego.v1

test_strong_policy_passes if {
	count(aws_iam_password_policy.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_iam_account_password_policy", "id": "aws_iam_account_password_policy-1", "config": {"minimum_password_length": 16, "password_reuse_prevention": 24}},
	]}
}

test_short_passwords_are_denied if {
	count(aws_iam_password_policy.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_iam_account_password_policy", "id": "aws_iam_account_password_policy-1", "config": {"minimum_password_length": 8, "password_reuse_prevention": 24}},
	]}
}

test_default_policy_fails_twice if {
	count(aws_iam_password_policy.deny) == 2 with input as {"hatoba_resources": [
		{"type": "aws_iam_account_password_policy", "id": "aws_iam_account_password_policy-1", "config": {}},
	]}
}
