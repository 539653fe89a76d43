package hatoba.controls.aws_cloudtrail_kms

import data.hatoba.lib
import rego.v1

deny contains f if {
	some r in lib.of_type("aws_cloudtrail")
	not lib.customer_key(r, ["kms_key_id"])
	f := lib.finding(r, "the trail's logs are not encrypted with a customer managed KMS key")
}
