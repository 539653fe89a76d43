package hatoba.controls.aws_dynamodb_pitr

import data.hatoba.lib
import rego.v1

enabled(r) if {
	some p in lib.list(object.get(r.config, "point_in_time_recovery", []))
	p.enabled == true
}

deny contains f if {
	some r in lib.of_type("aws_dynamodb_table")
	not enabled(r)
	f := lib.finding(r, "point-in-time recovery is off")
}
