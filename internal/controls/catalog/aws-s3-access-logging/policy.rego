package hatoba.controls.aws_s3_access_logging

import data.hatoba.lib
import rego.v1

# companions(b, t): the resources of type t that configure bucket b
# (lib.configures_bucket: naming it, or referring to it in a plan).
companions(b, t) := {c | some c in lib.of_type(t); lib.configures_bucket(c, b)}

logged(c) if lib.present(c, ["target_bucket"])

# The aws_s3_bucket resource's own (deprecated, AWS provider v3's inline)
# logging block; a target bucket the same plan creates is known only after
# the apply and counts as set, as for the separate resource.
logged(b) if {
	some i, _ in lib.list(object.get(b.config, "logging", []))
	lib.present(b, ["logging", i, "target_bucket"])
}

deny contains f if {
	some b in lib.of_type("aws_s3_bucket")
	not logged(b)
	count({c | some c in companions(b, "aws_s3_bucket_logging"); logged(c)}) == 0
	f := lib.finding(b, "server access logging is not enabled on the bucket")
}
