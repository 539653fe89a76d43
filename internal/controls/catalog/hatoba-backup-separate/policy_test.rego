package hatoba.controls.hatoba_backup_separate_test

import data.hatoba.controls.hatoba_backup_separate
import rego.v1

target(cfg) := {"hatoba_resources": [{"type": "hatoba_backup_target", "id": "hatoba:backup:env-1", "region": "jp-east-1",
	"config": object.union({"jurisdiction": "JP", "tier": "domestic", "provider": "dom", "environment_provider": "aws",
		"exists": true, "object_lock_enabled": true, "bucket": "hatoba-backup-env-1"}, cfg)}]}

test_separate_domestic_locked_passes if {
	count(hatoba_backup_separate.deny) == 0 with input as target({})
}

test_foreign_jurisdiction_denied if {
	{f.msg | some f in hatoba_backup_separate.deny} == {"hatoba:backup:env-1: the backup target is in jurisdiction \"US\", not Japan's"} with input as target({"jurisdiction": "US"})
}

test_hyperscaler_denied if {
	count(hatoba_backup_separate.deny) == 1 with input as target({"tier": "hyperscaler"})
}

test_same_provider_denied if {
	count(hatoba_backup_separate.deny) == 1 with input as target({"environment_provider": "dom"})
}

test_unlocked_denied if {
	count(hatoba_backup_separate.deny) == 1 with input as target({"object_lock_enabled": false})
}
