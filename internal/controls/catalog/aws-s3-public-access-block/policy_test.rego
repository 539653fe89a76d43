package hatoba.controls.aws_s3_public_access_block_test

import data.hatoba.controls.aws_s3_public_access_block
import rego.v1

test_all_four_on_passes if {
	count(aws_s3_public_access_block.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_s3_bucket_public_access_block", "id": "aws_s3_bucket_public_access_block-1", "config": {"bucket": "b", "block_public_acls": true, "block_public_policy": true, "ignore_public_acls": true, "restrict_public_buckets": true}},
	]}
}

test_one_off_is_denied if {
	count(aws_s3_public_access_block.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_s3_account_public_access_block", "id": "aws_s3_account_public_access_block-1", "config": {"block_public_acls": true, "block_public_policy": false, "ignore_public_acls": true, "restrict_public_buckets": true}},
	]}
}

test_terraform_plan_is_read if {
	count(aws_s3_public_access_block.deny) == 1 with input as {"resource_changes": [
		{"mode": "managed", "type": "aws_s3_bucket_public_access_block", "address": "aws_s3_bucket_public_access_block.this", "change": {"actions": ["create"], "after": {"bucket": "b", "block_public_acls": true, "block_public_policy": true, "ignore_public_acls": true, "restrict_public_buckets": false}, "after_unknown": {"bucket": false}}},
	]}
}

test_bucket_without_block_is_denied if {
	count(aws_s3_public_access_block.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_s3_bucket", "id": "aws_s3_bucket.b", "config": {"bucket": "b"}},
	]}
}

test_bucket_with_its_block_passes if {
	count(aws_s3_public_access_block.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_s3_bucket", "id": "aws_s3_bucket.b", "config": {"bucket": "b"}},
		{"type": "aws_s3_bucket_public_access_block", "id": "pab", "config": {"bucket": "b", "block_public_acls": true, "block_public_policy": true, "ignore_public_acls": true, "restrict_public_buckets": true}},
	]}
}

test_account_block_covers_buckets if {
	count(aws_s3_public_access_block.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_s3_bucket", "id": "aws_s3_bucket.b", "config": {"bucket": "b"}},
		{"type": "aws_s3_account_public_access_block", "id": "account", "config": {"block_public_acls": true, "block_public_policy": true, "ignore_public_acls": true, "restrict_public_buckets": true}},
	]}
}

test_plan_block_with_bucket_known_after_apply_passes if {
	count(aws_s3_public_access_block.deny) == 0 with input as {"resource_changes": [
		{"mode": "managed", "type": "aws_s3_bucket", "address": "aws_s3_bucket.b", "change": {"actions": ["create"], "after": {"bucket_prefix": "b-"}, "after_unknown": {"bucket": true}}},
		{"mode": "managed", "type": "aws_s3_bucket_public_access_block", "address": "aws_s3_bucket_public_access_block.b", "change": {"actions": ["create"], "after": {"block_public_acls": true, "block_public_policy": true, "ignore_public_acls": true, "restrict_public_buckets": true}, "after_unknown": {"bucket": true}}},
	]}
}
