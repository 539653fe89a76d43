package hatoba.controls.aws_root_no_access_keys_test

import data.hatoba.controls.aws_root_no_access_keys
import rego.v1

test_root_without_keys_passes if {
	count(aws_root_no_access_keys.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_root_account", "id": "111122223333", "config": {"mfa_enabled": true, "access_keys_present": false}},
	]}
}

test_root_with_keys_is_denied if {
	count(aws_root_no_access_keys.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_root_account", "id": "111122223333", "config": {"mfa_enabled": true, "access_keys_present": true}},
	]}
}
