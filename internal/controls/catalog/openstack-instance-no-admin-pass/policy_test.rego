package hatoba.controls.openstack_instance_no_admin_pass_test

import data.hatoba.controls.openstack_instance_no_admin_pass
import rego.v1

test_key_pair_passes if {
	count(openstack_instance_no_admin_pass.deny) == 0 with input as {"hatoba_resources": [
		{"type": "openstack_compute_instance_v2", "id": "openstack_compute_instance_v2-1", "config": {"name": "web", "key_pair": "ops", "config_drive": true, "metadata": {"role": "web"}}},
	]}
}

test_admin_pass_is_denied if {
	count(openstack_instance_no_admin_pass.deny) == 1 with input as {"hatoba_resources": [
		{"type": "openstack_compute_instance_v2", "id": "openstack_compute_instance_v2-1", "config": {"name": "web", "admin_pass": "s3cret"}},
	]}
}

test_password_metadata_is_denied if {
	count(openstack_instance_no_admin_pass.deny) == 1 with input as {"hatoba_resources": [
		{"type": "openstack_compute_instance_v2", "id": "openstack_compute_instance_v2-1", "config": {"name": "web", "metadata": {"db_password": "s3cret"}}},
	]}
}

test_terraform_plan_is_read if {
	count(openstack_instance_no_admin_pass.deny) == 1 with input as {"resource_changes": [
		{"mode": "managed", "type": "openstack_compute_instance_v2", "address": "openstack_compute_instance_v2.this", "change": {"actions": ["create"], "after": {"name": "web", "admin_pass": "s3cret", "config_drive": true}, "after_unknown": {"access_ip_v4": true}}},
	]}
}
