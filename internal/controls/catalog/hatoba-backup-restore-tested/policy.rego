package hatoba.controls.hatoba_backup_restore_tested

import data.hatoba.lib
import rego.v1

deny contains f if {
	some r in lib.of_type("hatoba_backup_target")
	not r.config.restore_test
	f := lib.finding(r, "no restore test of this environment's backups is recorded")
}

deny contains f if {
	some r in lib.of_type("hatoba_backup_target")
	t := r.config.restore_test
	t.age_days > r.config.restore_test_max_age_days
	f := lib.finding_fmt(r, "the newest restore test (%s) is %v days old; this %s %s environment needs one every %v days", [
		t.performed_at, t.age_days, r.config.purpose, r.config.classification, r.config.restore_test_max_age_days,
	])
}

deny contains f if {
	some r in lib.of_type("hatoba_backup_target")
	t := r.config.restore_test
	t.result != "succeeded"
	f := lib.finding_fmt(r, "the newest restore test (%s) %s", [t.performed_at, t.result])
}
