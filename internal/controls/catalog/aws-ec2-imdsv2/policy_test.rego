package hatoba.controls.aws_ec2_imdsv2_test

import data.hatoba.controls.aws_ec2_imdsv2
import rego.v1

test_required_passes if {
	count(aws_ec2_imdsv2.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_instance", "id": "aws_instance-1", "config": {"metadata_options": [{"http_tokens": "required"}]}},
	]}
}

test_optional_is_denied if {
	count(aws_ec2_imdsv2.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_instance", "id": "aws_instance-1", "config": {"metadata_options": [{"http_tokens": "optional"}]}},
	]}
}

test_launch_template_without_options_is_denied if {
	count(aws_ec2_imdsv2.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_launch_template", "id": "aws_launch_template-1", "config": {"name": "lt"}},
	]}
}

test_terraform_plan_is_read if {
	count(aws_ec2_imdsv2.deny) == 0 with input as {"resource_changes": [
		{"mode": "managed", "type": "aws_instance", "address": "aws_instance.this", "change": {"actions": ["create"], "after": {"ami": "ami-1", "metadata_options": [{"http_tokens": "required", "http_endpoint": "enabled"}]}}},
	]}
}

test_instance_from_launch_template_is_judged_at_the_template if {
	count(aws_ec2_imdsv2.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_instance", "id": "i", "config": {"launch_template": [{"id": "lt-1"}]}},
		{"type": "aws_launch_template", "id": "lt", "config": {"metadata_options": [{"http_tokens": "optional"}]}},
	]}
}

test_launch_template_requiring_imdsv2_passes if {
	count(aws_ec2_imdsv2.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_instance", "id": "i", "config": {"launch_template": [{"id": "lt-1"}]}},
		{"type": "aws_launch_template", "id": "lt", "config": {"metadata_options": [{"http_tokens": "required"}]}},
	]}
}
