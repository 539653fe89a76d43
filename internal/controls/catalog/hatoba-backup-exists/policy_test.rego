package hatoba.controls.hatoba_backup_exists_test

import data.hatoba.controls.hatoba_backup_exists
import rego.v1

target(cfg) := {"hatoba_resources": [{"type": "hatoba_backup_target", "id": "hatoba:backup:env-1", "region": "jp-east-1",
	"config": object.union({"bucket": "hatoba-backup-env-1", "provider": "dom", "exists": true, "backups": 3}, cfg)}]}

test_backups_pass if {
	count(hatoba_backup_exists.deny) == 0 with input as target({})
}

test_no_backups_denied if {
	{f.msg | some f in hatoba_backup_exists.deny} == {"hatoba:backup:env-1: the backup bucket hatoba-backup-env-1 on dom holds no backups"} with input as target({"backups": 0})
}

test_missing_bucket_denied if {
	count(hatoba_backup_exists.deny) == 1 with input as target({"exists": false, "backups": 0})
}
