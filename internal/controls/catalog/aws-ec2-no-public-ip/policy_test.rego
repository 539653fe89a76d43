package hatoba.controls.aws_ec2_no_public_ip_test

import data.hatoba.controls.aws_ec2_no_public_ip
import rego.v1

test_private_passes if {
	count(aws_ec2_no_public_ip.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_instance", "id": "aws_instance-1", "config": {"associate_public_ip_address": false, "public_ip": ""}},
	]}
}

test_public_is_denied if {
	count(aws_ec2_no_public_ip.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_instance", "id": "aws_instance-1", "config": {"associate_public_ip_address": true}},
	]}
}

test_terraform_plan_is_read if {
	count(aws_ec2_no_public_ip.deny) == 1 with input as {"resource_changes": [
		{"mode": "managed", "type": "aws_instance", "address": "aws_instance.this", "change": {"actions": ["create"], "after": {"ami": "ami-1", "associate_public_ip_address": true}, "after_unknown": {"public_ip": true}}},
	]}
}

test_launch_template_public_ip_is_denied if {
	count(aws_ec2_no_public_ip.deny) == 1 with input as {"resource_changes": [
		{"mode": "managed", "type": "aws_launch_template", "address": "aws_launch_template.web", "change": {"actions": ["create"], "after": {"network_interfaces": [{"associate_public_ip_address": "true", "device_index": 0}]}}},
	]}
}

test_launch_template_public_ip_bool_is_denied if {
	count(aws_ec2_no_public_ip.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_launch_template", "id": "lt", "config": {"network_interfaces": [{"associate_public_ip_address": true}]}},
	]}
}

test_launch_template_private_passes if {
	count(aws_ec2_no_public_ip.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_launch_template", "id": "lt", "config": {"network_interfaces": [{"associate_public_ip_address": "false"}, {"device_index": 1}]}},
	]}
}
