package hatoba.controls.aws_elasticache_at_rest_encrypted

import data.hatoba.lib
import rego.v1

deny contains f if {
	some r in lib.of_type("aws_elasticache_replication_group")
	not object.get(r.config, "at_rest_encryption_enabled", false) in {true, "true"}
	f := lib.finding(r, "the replication group is not encrypted at rest")
}
