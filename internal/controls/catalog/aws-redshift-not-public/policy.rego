package hatoba.controls.aws_redshift_not_public

import data.hatoba.lib
import rego.v1

deny contains f if {
	some r in lib.of_type("aws_redshift_cluster")
	object.get(r.config, "publicly_accessible", false) in {true, "true"}
	f := lib.finding(r, "the cluster is publicly accessible")
}
