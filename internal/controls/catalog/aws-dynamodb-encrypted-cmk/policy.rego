package hatoba.controls.aws_dynamodb_encrypted_cmk

import data.hatoba.lib
import rego.v1

customer_key(r) if {
	some i, sse in lib.list(object.get(r.config, "server_side_encryption", []))
	sse.enabled == true
	lib.customer_key(r, ["server_side_encryption", i, "kms_key_arn"])
}

deny contains f if {
	some r in lib.of_type("aws_dynamodb_table")
	not customer_key(r)
	f := lib.finding(r, "the table is not encrypted with a customer managed KMS key")
}
