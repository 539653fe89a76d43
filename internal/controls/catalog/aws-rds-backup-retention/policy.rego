package hatoba.controls.aws_rds_backup_retention

import data.hatoba.lib
import rego.v1

deny contains f if {
	some t in {"aws_db_instance", "aws_rds_cluster"}
	some r in lib.of_type(t)
	not lib.aurora(r)
	not lib.known_after_apply(r, ["backup_retention_period"])
	days := object.get(r.config, "backup_retention_period", 0)
	not days >= 7
	f := lib.finding_fmt(r, "automated backups are kept for %v days, fewer than 7", [days])
}
