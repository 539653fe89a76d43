package hatoba.controls.aws_iam_no_users

import data.hatoba.lib
import rego.v1

deny contains f if {
	some r in lib.of_type("aws_iam_user")
	f := lib.finding_fmt(r, "IAM user %q exists; people sign in through the identity center", [object.get(r.config, "name", r.id)])
}
