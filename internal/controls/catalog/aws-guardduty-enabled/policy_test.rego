package hatoba.controls.aws_guardduty_enabled_test

import data.hatoba.controls.aws_guardduty_enabled
import rego.v1

test_enabled_passes if {
	count(aws_guardduty_enabled.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_guardduty_detector", "id": "aws_guardduty_detector-1", "config": {"enable": true}},
	]}
}

test_disabled_is_denied if {
	count(aws_guardduty_enabled.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_guardduty_detector", "id": "aws_guardduty_detector-1", "config": {"enable": false}},
	]}
}
