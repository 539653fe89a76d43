package hatoba.controls.aws_rds_deletion_protection

import data.hatoba.lib
import rego.v1

deny contains f if {
	some t in {"aws_db_instance", "aws_rds_cluster"}
	some r in lib.of_type(t)
	not lib.aurora(r)
	not r.config.deletion_protection == true
	f := lib.finding(r, "deletion protection is off")
}
