package hatoba.controls.openstack_app_credential_expires

import data.hatoba.lib
import rego.v1

deny contains f if {
	some r in lib.of_type("openstack_identity_application_credential_v3")
	not lib.present(r, ["expires_at"])
	f := lib.finding_fmt(r, "application credential %v never expires", [object.get(r.config, "name", "")])
}
