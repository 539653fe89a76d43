package hatoba.controls.aws_s3_encryption_kms

import data.hatoba.lib
import rego.v1

# companions(b, t): the resources of type t that configure bucket b
# (lib.configures_bucket: naming it, or referring to it in a plan).
companions(b, t) := {c | some c in lib.of_type(t); lib.configures_bucket(c, b)}

customer_key(c) if {
	some i, rule in lib.list(object.get(c.config, "rule", []))
	some j, d in lib.list(object.get(rule, "apply_server_side_encryption_by_default", []))
	d.sse_algorithm in {"aws:kms", "aws:kms:dsse"}
	lib.customer_key(c, ["rule", i, "apply_server_side_encryption_by_default", j, "kms_master_key_id"])
}

# The aws_s3_bucket resource's own server_side_encryption_configuration
# block (AWS provider v3's inline form, and the provider's read-only view
# since): judged as the separate resource is, a key the same plan creates
# counting as a customer managed key.
inline_customer_key(b) if {
	some i, sse in lib.list(object.get(b.config, "server_side_encryption_configuration", []))
	some j, rule in lib.list(object.get(sse, "rule", []))
	some k, d in lib.list(object.get(rule, "apply_server_side_encryption_by_default", []))
	d.sse_algorithm in {"aws:kms", "aws:kms:dsse"}
	lib.customer_key(b, ["server_side_encryption_configuration", i, "rule", j, "apply_server_side_encryption_by_default", k, "kms_master_key_id"])
}

deny contains f if {
	some b in lib.of_type("aws_s3_bucket")
	not inline_customer_key(b)
	count({c | some c in companions(b, "aws_s3_bucket_server_side_encryption_configuration"); customer_key(c)}) == 0
	f := lib.finding(b, "the bucket is not encrypted by default with a customer managed KMS key")
}
