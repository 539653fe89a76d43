package hatoba.controls.hatoba_backup_restore_tested_test

import data.hatoba.controls.hatoba_backup_restore_tested
import rego.v1

target(test) := {"hatoba_resources": [{"type": "hatoba_backup_target", "id": "hatoba:backup:env-1", "region": "jp-east-1",
	"config": object.union({"restore_test_max_age_days": 90, "purpose": "production", "classification": "level3"}, test)}]}

tested(age, result) := target({"restore_test": {"performed_at": "2026-10-01T09:00:00Z", "age_days": age, "result": result}})

test_recent_success_passes if {
	count(hatoba_backup_restore_tested.deny) == 0 with input as tested(10, "succeeded")
}

test_missing_denied if {
	{f.msg | some f in hatoba_backup_restore_tested.deny} == {"hatoba:backup:env-1: no restore test of this environment's backups is recorded"} with input as target({})
}

test_stale_denied if {
	{f.msg | some f in hatoba_backup_restore_tested.deny} == {"hatoba:backup:env-1: the newest restore test (2026-10-01T09:00:00Z) is 90.1 days old; this production level3 environment needs one every 90 days"} with input as tested(90.1, "succeeded")
}

test_failed_denied if {
	count(hatoba_backup_restore_tested.deny) == 1 with input as tested(1, "failed")
}
