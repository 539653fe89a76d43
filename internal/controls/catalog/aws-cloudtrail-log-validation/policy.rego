package hatoba.controls.aws_cloudtrail_log_validation

import data.hatoba.lib
import rego.v1

deny contains f if {
	some r in lib.of_type("aws_cloudtrail")
	not r.config.enable_log_file_validation == true
	f := lib.finding(r, "log file validation is off")
}
