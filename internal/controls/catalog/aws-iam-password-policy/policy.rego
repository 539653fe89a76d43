package hatoba.controls.aws_iam_password_policy

import data.hatoba.lib
import rego.v1

deny contains f if {
	some r in lib.of_type("aws_iam_account_password_policy")
	not object.get(r.config, "minimum_password_length", 0) >= 14
	f := lib.finding_fmt(r, "the password policy allows passwords shorter than 14 characters (minimum_password_length %v)", [object.get(r.config, "minimum_password_length", null)])
}

deny contains f if {
	some r in lib.of_type("aws_iam_account_password_policy")
	not object.get(r.config, "password_reuse_prevention", 0) >= 24
	f := lib.finding_fmt(r, "the password policy lets a password be reused sooner than after 24 others (password_reuse_prevention %v)", [object.get(r.config, "password_reuse_prevention", null)])
}
