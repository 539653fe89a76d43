package hatoba.controls.aws_sg_no_public_admin_ports_test

import data.hatoba.controls.aws_sg_no_public_admin_ports
import rego.v1

test_private_ssh_passes if {
	count(aws_sg_no_public_admin_ports.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_security_group", "id": "aws_security_group-1", "config": {"ingress": [{"from_port": 22, "to_port": 22, "protocol": "tcp", "cidr_blocks": ["10.0.0.0/8"], "ipv6_cidr_blocks": []}]}},
	]}
}

test_public_https_passes if {
	count(aws_sg_no_public_admin_ports.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_security_group", "id": "aws_security_group-1", "config": {"ingress": [{"from_port": 443, "to_port": 443, "protocol": "tcp", "cidr_blocks": ["0.0.0.0/0"], "ipv6_cidr_blocks": ["::/0"]}]}},
	]}
}

test_public_ssh_is_denied if {
	count(aws_sg_no_public_admin_ports.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_security_group", "id": "aws_security_group-1", "config": {"ingress": [{"from_port": 22, "to_port": 22, "protocol": "tcp", "cidr_blocks": ["0.0.0.0/0"]}]}},
	]}
}

test_public_range_is_denied if {
	count(aws_sg_no_public_admin_ports.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_security_group_rule", "id": "aws_security_group_rule-1", "config": {"type": "ingress", "from_port": 3000, "to_port": 4000, "protocol": "tcp", "cidr_blocks": ["0.0.0.0/0"]}},
	]}
}

test_all_protocols_from_ipv6_is_denied if {
	count(aws_sg_no_public_admin_ports.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_vpc_security_group_ingress_rule", "id": "aws_vpc_security_group_ingress_rule-1", "config": {"ip_protocol": "-1", "cidr_ipv6": "::/0"}},
	]}
}

test_inventory_all_protocols_is_denied if {
	count(aws_sg_no_public_admin_ports.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_security_group", "id": "aws_security_group-1", "config": {"ingress": [{"from_port": 0, "to_port": 0, "protocol": "-1", "cidr_blocks": ["0.0.0.0/0"], "ipv6_cidr_blocks": []}]}},
	]}
}

test_egress_rule_passes if {
	count(aws_sg_no_public_admin_ports.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_security_group_rule", "id": "aws_security_group_rule-1", "config": {"type": "egress", "from_port": 0, "to_port": 0, "protocol": "-1", "cidr_blocks": ["0.0.0.0/0"]}},
	]}
}

test_terraform_plan_is_read if {
	count(aws_sg_no_public_admin_ports.deny) == 1 with input as {"resource_changes": [
		{"mode": "managed", "type": "aws_vpc_security_group_ingress_rule", "address": "aws_vpc_security_group_ingress_rule.this", "change": {"actions": ["create"], "after": {"ip_protocol": "tcp", "from_port": 3389, "to_port": 3389, "cidr_ipv4": "0.0.0.0/0"}, "after_unknown": {"security_group_id": true}}},
	]}
}
