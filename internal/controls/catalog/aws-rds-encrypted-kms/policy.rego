package hatoba.controls.aws_rds_encrypted_kms

import data.hatoba.lib
import rego.v1

deny contains f if {
	some r in lib.of_type("aws_db_instance")
	not lib.aurora(r)
	not r.config.storage_encrypted == true
	f := lib.finding(r, "the database's storage is not encrypted")
}

deny contains f if {
	some r in lib.of_type("aws_db_instance")
	not lib.aurora(r)
	r.config.storage_encrypted == true
	not lib.customer_key(r, ["kms_key_id"])
	f := lib.finding(r, "the database is encrypted with the AWS managed key, not a customer managed KMS key")
}
