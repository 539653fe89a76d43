package hatoba.controls.aws_efs_encrypted

import data.hatoba.lib
import rego.v1

deny contains f if {
	some r in lib.of_type("aws_efs_file_system")
	not r.config.encrypted == true
	f := lib.finding(r, "the file system is not encrypted")
}

deny contains f if {
	some r in lib.of_type("aws_efs_file_system")
	r.config.encrypted == true
	not lib.customer_key(r, ["kms_key_id"])
	f := lib.finding(r, "the file system is encrypted with the AWS managed key, not a customer managed KMS key")
}
