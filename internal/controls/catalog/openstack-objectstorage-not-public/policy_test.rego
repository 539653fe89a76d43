package hatoba.controls.openstack_objectstorage_not_public_test

import data.hatoba.controls.openstack_objectstorage_not_public
import rego.v1

test_project_acl_passes if {
	count(openstack_objectstorage_not_public.deny) == 0 with input as {"hatoba_resources": [
		{"type": "openstack_objectstorage_container_v1", "id": "openstack_objectstorage_container_v1-1", "config": {"name": "docs", "container_read": "p1:*"}},
	]}
}

test_public_read_is_denied if {
	count(openstack_objectstorage_not_public.deny) == 1 with input as {"hatoba_resources": [
		{"type": "openstack_objectstorage_container_v1", "id": "openstack_objectstorage_container_v1-1", "config": {"name": "docs", "container_read": ".r:*, .rlistings"}},
	]}
}

test_terraform_plan_is_read if {
	count(openstack_objectstorage_not_public.deny) == 1 with input as {"resource_changes": [
		{"mode": "managed", "type": "openstack_objectstorage_container_v1", "address": "openstack_objectstorage_container_v1.this", "change": {"actions": ["create"], "after": {"name": "docs", "container_read": ".r:*"}}},
	]}
}
