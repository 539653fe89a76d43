package hatoba.controls.aws_iam_no_access_keys

import data.hatoba.lib
import rego.v1

deny contains f if {
	some r in lib.of_type("aws_iam_access_key")
	f := lib.finding_fmt(r, "IAM access key of user %q exists; programs use IAM roles' temporary credentials", [object.get(r.config, "user", "")])
}
