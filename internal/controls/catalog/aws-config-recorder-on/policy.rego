package hatoba.controls.aws_config_recorder_on

import data.hatoba.lib
import rego.v1

deny contains f if {
	some r in lib.of_type("aws_config_configuration_recorder_status")
	not r.config.is_enabled == true
	f := lib.finding(r, "the configuration recorder is stopped")
}
