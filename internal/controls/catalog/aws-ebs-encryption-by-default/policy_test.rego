package hatoba.controls.aws_ebs_encryption_by_default_test

import data.hatoba.controls.aws_ebs_encryption_by_default
import rego.v1

test_enabled_passes if {
	count(aws_ebs_encryption_by_default.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_ebs_encryption_by_default", "id": "aws_ebs_encryption_by_default-1", "config": {"enabled": true}, "region": "ap-northeast-1"},
	]}
}

test_disabled_is_denied if {
	count(aws_ebs_encryption_by_default.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_ebs_encryption_by_default", "id": "aws_ebs_encryption_by_default-1", "config": {"enabled": false}, "region": "ap-northeast-1"},
	]}
}
