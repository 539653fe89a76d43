package hatoba.controls.hatoba_backup_recent_test

import data.hatoba.controls.hatoba_backup_recent
import rego.v1

target(age) := {"hatoba_resources": [{"type": "hatoba_backup_target", "id": "hatoba:backup:env-1", "region": "jp-east-1",
	"config": {"backups": 2, "latest_backup_at": "2026-12-01T02:00:00Z", "latest_backup_age_hours": age,
		"rpo_hours": 24, "purpose": "production", "classification": "level3"}}]}

test_within_rpo_passes if {
	count(hatoba_backup_recent.deny) == 0 with input as target(23.9)
}

test_at_rpo_passes if {
	count(hatoba_backup_recent.deny) == 0 with input as target(24)
}

test_older_than_rpo_denied if {
	{f.msg | some f in hatoba_backup_recent.deny} == {"hatoba:backup:env-1: the newest backup (2026-12-01T02:00:00Z) is 30.5 hours old; the RPO of this production level3 environment is 24 hours"} with input as target(30.5)
}

test_no_backups_is_not_this_control if {
	count(hatoba_backup_recent.deny) == 0 with input as {"hatoba_resources": [{"type": "hatoba_backup_target", "id": "x", "config": {"backups": 0, "rpo_hours": 24}}]}
}

test_one_finding_per_target if {
	count(hatoba_backup_recent.deny) == 1 with input as target(48)
}
