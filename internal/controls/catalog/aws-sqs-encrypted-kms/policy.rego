package hatoba.controls.aws_sqs_encrypted_kms

import data.hatoba.lib
import rego.v1

deny contains f if {
	some r in lib.of_type("aws_sqs_queue")
	not lib.customer_key(r, ["kms_master_key_id"])
	f := lib.finding(r, "the SQS queue is not encrypted with a customer managed KMS key")
}
