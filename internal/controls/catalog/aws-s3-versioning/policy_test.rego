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
