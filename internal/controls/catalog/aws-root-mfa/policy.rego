package hatoba.controls.aws_root_mfa

import data.hatoba.lib
import rego.v1

deny contains f if {
	some r in lib.of_type("aws_root_account")
	not r.config.mfa_enabled == true
	f := lib.finding(r, "the root user has no MFA device; a password alone signs in as root")
}
