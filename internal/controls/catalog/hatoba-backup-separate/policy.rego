package hatoba.controls.hatoba_backup_separate

import data.hatoba.lib
import rego.v1

deny contains f if {
	some r in lib.of_type("hatoba_backup_target")
	r.config.jurisdiction != "JP"
	f := lib.finding_fmt(r, "the backup target is in jurisdiction %q, not Japan's", [r.config.jurisdiction])
}

deny contains f if {
	some r in lib.of_type("hatoba_backup_target")
	r.config.tier != "domestic"
	f := lib.finding_fmt(r, "the backup target is on provider %s of the %s tier, not the domestic tier", [r.config.provider, r.config.tier])
}

deny contains f if {
	some r in lib.of_type("hatoba_backup_target")
	r.config.provider == r.config.environment_provider
	f := lib.finding_fmt(r, "the backup target is on the environment's own provider %s", [r.config.provider])
}

deny contains f if {
	some r in lib.of_type("hatoba_backup_target")
	r.config.exists
	not r.config.object_lock_enabled
	f := lib.finding_fmt(r, "the backup bucket %s has no object lock: backups can be deleted or overwritten", [r.config.bucket])
}
