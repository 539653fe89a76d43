package hatoba.controls.openstack_instance_no_admin_pass

import data.hatoba.lib
import rego.v1

deny contains f if {
	some r in lib.of_type("openstack_compute_instance_v2")
	lib.present(r, ["admin_pass"])
	f := lib.finding(r, "the instance is given an admin password (admin_pass)")
}

deny contains f if {
	some r in lib.of_type("openstack_compute_instance_v2")
	some k, v in object.get(r.config, "metadata", {})
	regex.match(`(?i)(pass(word|wd)?|secret)`, k)
	v != ""
	f := lib.finding_fmt(r, "the instance's metadata carries a secret (%s)", [k])
}
