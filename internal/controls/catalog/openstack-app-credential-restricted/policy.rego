package hatoba.controls.openstack_app_credential_restricted

import data.hatoba.lib
import rego.v1

deny contains f if {
	some r in lib.of_type("openstack_identity_application_credential_v3")
	r.config.unrestricted == true
	f := lib.finding_fmt(r, "application credential %v is unrestricted: it can create other credentials", [object.get(r.config, "name", "")])
}
