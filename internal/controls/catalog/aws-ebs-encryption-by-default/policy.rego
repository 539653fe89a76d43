package hatoba.controls.aws_ebs_encryption_by_default

import data.hatoba.lib
import rego.v1

deny contains f if {
	some r in lib.of_type("aws_ebs_encryption_by_default")
	r.config.enabled == false
	f := lib.finding(r, "EBS encryption by default is off in the region")
}
