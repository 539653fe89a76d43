package hatoba.controls.aws_redshift_encrypted_kms

import data.hatoba.lib
import rego.v1

encrypted(r) if object.get(r.config, "encrypted", false) in {true, "true"}

deny contains f if {
	some r in lib.of_type("aws_redshift_cluster")
	not encrypted(r)
	f := lib.finding(r, "the cluster is not encrypted")
}

deny contains f if {
	some r in lib.of_type("aws_redshift_cluster")
	encrypted(r)
	not lib.customer_key(r, ["kms_key_id"])
	f := lib.finding(r, "the cluster is not encrypted with a customer managed KMS key")
}
