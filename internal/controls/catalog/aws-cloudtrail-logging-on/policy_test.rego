package hatoba.controls.aws_cloudtrail_logging_on_test

import data.hatoba.controls.aws_cloudtrail_logging_on
import rego.v1

test_logging_passes if {
	count(aws_cloudtrail_logging_on.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_cloudtrail", "id": "aws_cloudtrail-1", "config": {"name": "org", "enable_logging": true}},
	]}
}

test_stopped_is_denied if {
	count(aws_cloudtrail_logging_on.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_cloudtrail", "id": "aws_cloudtrail-1", "config": {"name": "org", "enable_logging": false}},
	]}
}
