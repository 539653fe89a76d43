package hatoba.controls.openstack_app_credential_expires_test

import data.hatoba.controls.openstack_app_credential_expires
import rego.v1

test_expiring_passes if {
	count(openstack_app_credential_expires.deny) == 0 with input as {"hatoba_resources": [
		{"type": "openstack_identity_application_credential_v3", "id": "openstack_identity_application_credential_v3-1", "config": {"name": "ci", "expires_at": "2027-03-31T00:00:00Z"}},
	]}
}

test_never_expiring_is_denied if {
	count(openstack_app_credential_expires.deny) == 1 with input as {"hatoba_resources": [
		{"type": "openstack_identity_application_credential_v3", "id": "openstack_identity_application_credential_v3-1", "config": {"name": "ci", "expires_at": ""}},
	]}
}
