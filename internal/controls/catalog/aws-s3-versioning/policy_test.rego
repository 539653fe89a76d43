package hatoba.controls.aws_s3_versioning_test

import data.hatoba.controls.aws_s3_versioning
import rego.v1

test_versioned_passes if {
	count(aws_s3_versioning.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_s3_bucket", "id": "aws_s3_bucket-1", "config": {"bucket": "b"}},
		{"type": "aws_s3_bucket_versioning", "id": "aws_s3_bucket_versioning-1", "config": {"bucket": "b", "versioning_configuration": [{"status": "Enabled"}]}},
	]}
}

test_suspended_is_denied if {
	count(aws_s3_versioning.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_s3_bucket", "id": "aws_s3_bucket-1", "config": {"bucket": "b"}},
		{"type": "aws_s3_bucket_versioning", "id": "aws_s3_bucket_versioning-1", "config": {"bucket": "b", "versioning_configuration": [{"status": "Suspended"}]}},
	]}
}

test_inline_versioning_passes if {
	count(aws_s3_versioning.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_s3_bucket", "id": "aws_s3_bucket-1", "config": {"bucket": "b", "versioning": [{"enabled": true, "mfa_delete": false}]}},
	]}
}

test_terraform_plan_without_versioning_is_denied if {
	count(aws_s3_versioning.deny) == 1 with input as {"resource_changes": [
		{"mode": "managed", "type": "aws_s3_bucket", "address": "aws_s3_bucket.this", "change": {"actions": ["create"], "after": {"bucket": "b"}}},
	]}
}

# Companions whose bucket is known only after the apply configure the
# bucket the plan's configuration says they refer to, not every bucket.
test_terraform_plan_companion_by_reference_configures_its_bucket_only if {
	denied := {f.resource | some f in aws_s3_versioning.deny} with input as {
		"resource_changes": [
			{"mode": "managed", "type": "aws_s3_bucket", "name": "archive", "address": "aws_s3_bucket.archive", "change": {"actions": ["create"], "after": {"bucket_prefix": "a-"}, "after_unknown": {"bucket": true}}},
			{"mode": "managed", "type": "aws_s3_bucket", "name": "bare", "address": "aws_s3_bucket.bare", "change": {"actions": ["create"], "after": {"bucket_prefix": "b-"}, "after_unknown": {"bucket": true}}},
			{"mode": "managed", "type": "aws_s3_bucket_versioning", "name": "archive", "address": "aws_s3_bucket_versioning.archive", "change": {"actions": ["create"], "after": {"versioning_configuration": [{"status": "Enabled"}]}, "after_unknown": {"bucket": true}}},
		],
		"configuration": {"root_module": {"resources": [
			{"address": "aws_s3_bucket_versioning.archive", "expressions": {"bucket": {"references": ["aws_s3_bucket.archive.id", "aws_s3_bucket.archive"]}}},
		]}},
	}
	denied == {"aws_s3_bucket.bare"}
}

# Without what the configuration says, such a companion may be any
# bucket's, so it counts for each (docs/controls.md).
test_terraform_plan_companion_without_reference_counts_for_every_bucket if {
	count(aws_s3_versioning.deny) == 0 with input as {"resource_changes": [
		{"mode": "managed", "type": "aws_s3_bucket", "name": "archive", "address": "aws_s3_bucket.archive", "change": {"actions": ["create"], "after": {}, "after_unknown": {"bucket": true}}},
		{"mode": "managed", "type": "aws_s3_bucket", "name": "bare", "address": "aws_s3_bucket.bare", "change": {"actions": ["create"], "after": {}, "after_unknown": {"bucket": true}}},
		{"mode": "managed", "type": "aws_s3_bucket_versioning", "name": "v", "address": "aws_s3_bucket_versioning.v", "change": {"actions": ["create"], "after": {"versioning_configuration": [{"status": "Enabled"}]}, "after_unknown": {"bucket": true}}},
	]}
}
