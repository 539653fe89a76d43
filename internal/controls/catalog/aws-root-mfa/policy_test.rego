package hatoba.controls.aws_root_mfa_test

import data.hatoba.controls.aws_root_mfa
import rego.v1

test_root_with_mfa_passes if {
	count(aws_root_mfa.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_root_account", "id": "111122223333", "config": {"mfa_enabled": true, "access_keys_present": false}},
	]}
}

test_root_without_mfa_is_denied if {
	count(aws_root_mfa.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_root_account", "id": "111122223333", "config": {"mfa_enabled": false, "access_keys_present": false}},
	]}
}

test_unknown_mfa_is_denied if {
	count(aws_root_mfa.deny) == 1 with input as {"hatoba_resources": [{"type": "aws_root_account", "id": "111122223333", "config": {}}]}
}
