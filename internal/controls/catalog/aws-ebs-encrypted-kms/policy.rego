package hatoba.controls.aws_ebs_encrypted_kms

import data.hatoba.lib
import rego.v1

deny contains f if {
	some r in lib.of_type("aws_ebs_volume")
	not r.config.encrypted == true
	f := lib.finding(r, "the volume is not encrypted")
}

deny contains f if {
	some r in lib.of_type("aws_ebs_volume")
	r.config.encrypted == true
	not lib.customer_key(r, ["kms_key_id"])
	f := lib.finding(r, "the volume is encrypted with the AWS managed key, not a customer managed KMS key")
}
