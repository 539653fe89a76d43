package hatoba.controls.hatoba_backup_recent

import data.hatoba.lib
import rego.v1

# The age is computed by hatoba when it collects (internal/tenantbackup),
# so the policy reads no clock. A target without backups is
# hatoba-backup-exists's finding, not this one's.
deny contains f if {
	some r in lib.of_type("hatoba_backup_target")
	r.config.backups > 0
	r.config.latest_backup_age_hours > r.config.rpo_hours
	f := lib.finding_fmt(r, "the newest backup (%s) is %v hours old; the RPO of this %s %s environment is %v hours", [
		r.config.latest_backup_at, r.config.latest_backup_age_hours, r.config.purpose, r.config.classification, r.config.rpo_hours,
	])
}
