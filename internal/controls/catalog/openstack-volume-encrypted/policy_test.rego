package hatoba.controls.openstack_volume_encrypted_test

import data.hatoba.controls.openstack_volume_encrypted
import rego.v1

test_encrypted_flag_passes if {
	count(openstack_volume_encrypted.deny) == 0 with input as {"hatoba_resources": [
		{"type": "openstack_blockstorage_volume_v3", "id": "openstack_blockstorage_volume_v3-1", "config": {"name": "data", "size": 100, "encrypted": true}},
	]}
}

test_unencrypted_flag_is_denied if {
	count(openstack_volume_encrypted.deny) == 1 with input as {"hatoba_resources": [
		{"type": "openstack_blockstorage_volume_v3", "id": "openstack_blockstorage_volume_v3-1", "config": {"name": "data", "size": 100, "volume_type": "fake-encrypted", "encrypted": false}},
	]}
}

test_terraform_plan_encrypted_type_passes if {
	count(openstack_volume_encrypted.deny) == 0 with input as {"resource_changes": [
		{"mode": "managed", "type": "openstack_blockstorage_volume_v3", "address": "openstack_blockstorage_volume_v3.this", "change": {"actions": ["create"], "after": {"name": "data", "size": 100, "volume_type": "LUKS-encrypted"}}},
	]}
}

test_terraform_plan_plain_type_is_denied if {
	count(openstack_volume_encrypted.deny) == 1 with input as {"resource_changes": [
		{"mode": "managed", "type": "openstack_blockstorage_volume_v3", "address": "openstack_blockstorage_volume_v3.this", "change": {"actions": ["create"], "after": {"name": "data", "size": 100, "volume_type": "standard"}}},
	]}
}
