package hatoba.controls.aws_config_recorder_all_resources

import data.hatoba.lib
import rego.v1

deny contains f if {
	some r in lib.of_type("aws_config_configuration_recorder")
	some g in lib.list(object.get(r.config, "recording_group", []))
	object.get(g, "all_supported", true) == false
	f := lib.finding(r, "the configuration recorder records only some resource types (all_supported is false)")
}
