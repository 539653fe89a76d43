package hatoba.controls.aws_config_recorder_all_resources_test

import data.hatoba.controls.aws_config_recorder_all_resources
import rego.v1

test_all_supported_passes if {
	count(aws_config_recorder_all_resources.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_config_configuration_recorder", "id": "aws_config_configuration_recorder-1", "config": {"name": "default", "recording_group": [{"all_supported": true}]}},
	]}
}

test_some_types_is_denied if {
	count(aws_config_recorder_all_resources.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_config_configuration_recorder", "id": "aws_config_configuration_recorder-1", "config": {"name": "default", "recording_group": [{"all_supported": false, "resource_types": ["AWS::S3::Bucket"]}]}},
	]}
}

test_terraform_plan_is_read if {
	count(aws_config_recorder_all_resources.deny) == 1 with input as {"resource_changes": [
		{"mode": "managed", "type": "aws_config_configuration_recorder", "address": "aws_config_configuration_recorder.this", "change": {"actions": ["create"], "after": {"name": "default", "recording_group": [{"all_supported": false}]}}},
	]}
}
