package hatoba.controls.openstack_secgroup_no_public_admin_ports_test

import data.hatoba.controls.openstack_secgroup_no_public_admin_ports
import rego.v1

test_private_ssh_passes if {
	count(openstack_secgroup_no_public_admin_ports.deny) == 0 with input as {"hatoba_resources": [
		{"type": "openstack_networking_secgroup_rule_v2", "id": "openstack_networking_secgroup_rule_v2-1", "config": {"direction": "ingress", "ethertype": "IPv4", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "10.0.0.0/8"}},
	]}
}

test_public_https_passes if {
	count(openstack_secgroup_no_public_admin_ports.deny) == 0 with input as {"hatoba_resources": [
		{"type": "openstack_networking_secgroup_rule_v2", "id": "openstack_networking_secgroup_rule_v2-1", "config": {"direction": "ingress", "ethertype": "IPv4", "protocol": "tcp", "port_range_min": 443, "port_range_max": 443, "remote_ip_prefix": "0.0.0.0/0"}},
	]}
}

test_public_rdp_is_denied if {
	count(openstack_secgroup_no_public_admin_ports.deny) == 1 with input as {"hatoba_resources": [
		{"type": "openstack_networking_secgroup_rule_v2", "id": "openstack_networking_secgroup_rule_v2-1", "config": {"direction": "ingress", "ethertype": "IPv4", "protocol": "tcp", "port_range_min": 3389, "port_range_max": 3389, "remote_ip_prefix": "0.0.0.0/0"}},
	]}
}

test_any_source_any_protocol_is_denied if {
	count(openstack_secgroup_no_public_admin_ports.deny) == 1 with input as {"hatoba_resources": [
		{"type": "openstack_networking_secgroup_rule_v2", "id": "openstack_networking_secgroup_rule_v2-1", "config": {"direction": "ingress", "ethertype": "IPv6", "remote_ip_prefix": "", "remote_group_id": ""}},
	]}
}

test_tcp_without_range_is_denied if {
	count(openstack_secgroup_no_public_admin_ports.deny) == 1 with input as {"hatoba_resources": [
		{"type": "openstack_networking_secgroup_rule_v2", "id": "openstack_networking_secgroup_rule_v2-1", "config": {"direction": "ingress", "ethertype": "IPv4", "protocol": "tcp", "port_range_min": 0, "port_range_max": 0, "remote_ip_prefix": "0.0.0.0/0"}},
	]}
}

test_remote_group_passes if {
	count(openstack_secgroup_no_public_admin_ports.deny) == 0 with input as {"hatoba_resources": [
		{"type": "openstack_networking_secgroup_rule_v2", "id": "openstack_networking_secgroup_rule_v2-1", "config": {"direction": "ingress", "ethertype": "IPv4", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22, "remote_group_id": "sg-bastion"}},
	]}
}

test_terraform_plan_is_read if {
	count(openstack_secgroup_no_public_admin_ports.deny) == 1 with input as {"resource_changes": [
		{"mode": "managed", "type": "openstack_networking_secgroup_rule_v2", "address": "openstack_networking_secgroup_rule_v2.this", "change": {"actions": ["create"], "after": {"direction": "ingress", "ethertype": "IPv4", "protocol": "tcp", "port_range_min": 1, "port_range_max": 65535, "remote_ip_prefix": "0.0.0.0/0"}, "after_unknown": {"security_group_id": true}}},
	]}
}

test_terraform_plan_remote_group_known_after_apply_passes if {
	count(openstack_secgroup_no_public_admin_ports.deny) == 0 with input as {"resource_changes": [
		{"mode": "managed", "type": "openstack_networking_secgroup_rule_v2", "address": "openstack_networking_secgroup_rule_v2.this", "change": {"actions": ["create"], "after": {"direction": "ingress", "ethertype": "IPv4", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22}, "after_unknown": {"remote_group_id": true}}},
	]}
}
