package hatoba.controls.aws_elasticache_in_transit_encrypted

import data.hatoba.lib
import rego.v1

deny contains f if {
	some r in lib.of_type("aws_elasticache_replication_group")
	not object.get(r.config, "transit_encryption_enabled", false) in {true, "true"}
	f := lib.finding(r, "the replication group does not encrypt traffic in transit")
}

deny contains f if {
	some r in lib.of_type("aws_elasticache_replication_group")
	object.get(r.config, "transit_encryption_enabled", false) in {true, "true"}
	r.config.transit_encryption_mode == "preferred"
	f := lib.finding(r, "the replication group still accepts unencrypted connections (transit_encryption_mode preferred)")
}
