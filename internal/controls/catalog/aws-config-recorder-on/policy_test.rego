package hatoba.controls.aws_config_recorder_on_test

import data.hatoba.controls.aws_config_recorder_on
import rego.v1

test_enabled_passes if {
	count(aws_config_recorder_on.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_config_configuration_recorder_status", "id": "aws_config_configuration_recorder_status-1", "config": {"name": "default", "is_enabled": true}},
	]}
}

test_stopped_is_denied if {
	count(aws_config_recorder_on.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_config_configuration_recorder_status", "id": "aws_config_configuration_recorder_status-1", "config": {"name": "default", "is_enabled": false}},
	]}
}
