package hatoba.controls.aws_s3_public_access_block

import data.hatoba.lib
import rego.v1

settings := ["block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"]

deny contains f if {
	some t in {"aws_s3_bucket_public_access_block", "aws_s3_account_public_access_block"}
	some r in lib.of_type(t)
	off := [s | some s in settings; not object.get(r.config, s, false) == true]
	count(off) > 0
	f := lib.finding_fmt(r, "Block Public Access is not fully on: %s not true", [concat(", ", off)])
}

# A bucket no public access block configures (docs/controls.md, rule 2 for
# producers: a bucket without its companion has the setting off). AWS has
# turned all four settings on for buckets created since April 2023, but
# code that does not state them does not keep them, and buckets created
# before then (or imported) have none: the code must say so. An account
# whose own block is fully on (in the same input) covers its buckets.
deny contains f if {
	some b in lib.of_type("aws_s3_bucket")
	count(companions(b)) == 0
	not account_blocked
	f := lib.finding(b, "no public access block configures the bucket (set all four settings; AWS's default since April 2023 is not held by code that does not state it)")
}

# companions(b): the bucket's public access blocks (lib.configures_bucket:
# naming it, or referring to it in a plan).
companions(b) := {c | some c in lib.of_type("aws_s3_bucket_public_access_block"); lib.configures_bucket(c, b)}

account_blocked if {
	some r in lib.of_type("aws_s3_account_public_access_block")
	every s in settings {
		object.get(r.config, s, false) == true
	}
}
