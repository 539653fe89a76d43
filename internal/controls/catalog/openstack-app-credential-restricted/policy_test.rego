package hatoba.controls.openstack_app_credential_restricted_test

import data.hatoba.controls.openstack_app_credential_restricted
import rego.v1

test_restricted_passes if {
	count(openstack_app_credential_restricted.deny) == 0 with input as {"hatoba_resources": [
		{"type": "openstack_identity_application_credential_v3", "id": "openstack_identity_application_credential_v3-1", "config": {"name": "ci", "unrestricted": false, "expires_at": "2027-03-31T00:00:00Z"}},
	]}
}

test_unrestricted_is_denied if {
	count(openstack_app_credential_restricted.deny) == 1 with input as {"hatoba_resources": [
		{"type": "openstack_identity_application_credential_v3", "id": "openstack_identity_application_credential_v3-1", "config": {"name": "ci", "unrestricted": true, "expires_at": "2027-03-31T00:00:00Z"}},
	]}
}

test_terraform_plan_is_read if {
	count(openstack_app_credential_restricted.deny) == 1 with input as {"resource_changes": [
		{"mode": "managed", "type": "openstack_identity_application_credential_v3", "address": "openstack_identity_application_credential_v3.this", "change": {"actions": ["create"], "after": {"name": "ci", "unrestricted": true}, "after_unknown": {"secret": true}}},
	]}
}
