package hatoba.controls.openstack_region_domestic_test

import data.hatoba.controls.openstack_region_domestic
import rego.v1

test_domestic_passes if {
	count(openstack_region_domestic.deny) == 0 with input as {"hatoba_resources": [
		{"type": "openstack_compute_instance_v2", "id": "openstack_compute_instance_v2-1", "config": {"name": "web"}, "region": "jp-east-1"},
	]}
}

test_abroad_is_denied if {
	count(openstack_region_domestic.deny) == 1 with input as {"hatoba_resources": [
		{"type": "openstack_blockstorage_volume_v3", "id": "openstack_blockstorage_volume_v3-1", "config": {"size": 10}, "region": "us-west-1"},
	]}
}

test_terraform_plan_region_argument_is_read if {
	count(openstack_region_domestic.deny) == 1 with input as {"resource_changes": [
		{"mode": "managed", "type": "openstack_compute_instance_v2", "address": "openstack_compute_instance_v2.this", "change": {"actions": ["create"], "after": {"name": "web", "region": "RegionOne"}}},
	]}
}
