package hatoba.controls.aws_root_no_access_keys

import data.hatoba.lib
import rego.v1

deny contains f if {
	some r in lib.of_type("aws_root_account")
	r.config.access_keys_present == true
	f := lib.finding(r, "the root user has access keys")
}
