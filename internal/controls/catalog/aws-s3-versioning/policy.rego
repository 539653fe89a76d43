package hatoba.controls.aws_s3_versioning

import data.hatoba.lib
import rego.v1

# companions(b, t): the resources of type t that configure bucket b
# (lib.configures_bucket: naming it, or referring to it in a plan).
companions(b, t) := {c | some c in lib.of_type(t); lib.configures_bucket(c, b)}

enabled(c) if {
	some v in lib.list(object.get(c.config, "versioning_configuration", []))
	v.status == "Enabled"
}

# The aws_s3_bucket resource's own (deprecated) versioning attribute, as
# the provider's state and hatoba's inventory give it.
enabled(b) if {
	some v in lib.list(object.get(b.config, "versioning", []))
	v.enabled == true
}

deny contains f if {
	some b in lib.of_type("aws_s3_bucket")
	not enabled(b)
	count({c | some c in companions(b, "aws_s3_bucket_versioning"); enabled(c)}) == 0
	f := lib.finding(b, "versioning is not enabled on the bucket")
}
