package hatoba.controls.aws_cloudtrail_multi_region

import data.hatoba.lib
import rego.v1

deny contains f if {
	some r in lib.of_type("aws_cloudtrail")
	not r.config.is_multi_region_trail == true
	f := lib.finding(r, "the trail records a single region")
}
