package hatoba.controls.aws_s3_public_access_block

import data.hatoba.lib
import rego.v1

settings := ["block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"]

deny contains f if {
	some t in {"aws_s3_bucket_public_access_block", "aws_s3_account_public_access_block"}
	some r in lib.of_type(t)
	off := [s | some s in settings; not object.get(r.config, s, false) == true]
	count(off) > 0
	f := lib.finding(r, sprintf("Block Public Access is not fully on: %s not true", [concat(", ", off)]))
}
