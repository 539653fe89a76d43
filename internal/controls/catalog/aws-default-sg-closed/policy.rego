package hatoba.controls.aws_default_sg_closed

import data.hatoba.lib
import rego.v1

deny contains f if {
	some r in lib.of_type("aws_default_security_group")
	n := count(lib.list(object.get(r.config, "ingress", []))) + count(lib.list(object.get(r.config, "egress", [])))
	n > 0
	f := lib.finding_fmt(r, "the default security group has %d rules; it must have none", [n])
}
