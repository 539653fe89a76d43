package hatoba.controls.aws_guardduty_enabled

import data.hatoba.lib
import rego.v1

deny contains f if {
	some r in lib.of_type("aws_guardduty_detector")
	r.config.enable == false
	f := lib.finding(r, "the GuardDuty detector is disabled")
}
