package hatoba.controls.aws_rds_not_public

import data.hatoba.lib
import rego.v1

deny contains f if {
	some t in {"aws_db_instance", "aws_rds_cluster_instance"}
	some r in lib.of_type(t)
	r.config.publicly_accessible == true
	f := lib.finding(r, "the database is publicly accessible")
}
