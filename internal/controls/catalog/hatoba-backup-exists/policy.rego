package hatoba.controls.hatoba_backup_exists

import data.hatoba.lib
import rego.v1

# hatoba adds one hatoba_backup_target per environment with a backup
# target to what the detective controls read (internal/tenantbackup).
deny contains f if {
	some r in lib.of_type("hatoba_backup_target")
	not r.config.exists
	f := lib.finding_fmt(r, "the backup bucket %s does not exist on %s", [r.config.bucket, r.config.provider])
}

deny contains f if {
	some r in lib.of_type("hatoba_backup_target")
	r.config.exists
	r.config.backups == 0
	f := lib.finding_fmt(r, "the backup bucket %s on %s holds no backups", [r.config.bucket, r.config.provider])
}
