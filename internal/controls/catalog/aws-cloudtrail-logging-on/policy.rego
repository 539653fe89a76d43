package hatoba.controls.aws_cloudtrail_logging_on

import data.hatoba.lib
import rego.v1

deny contains f if {
	some r in lib.of_type("aws_cloudtrail")
	r.config.enable_logging == false
	f := lib.finding(r, "the trail is not logging")
}
