package hatoba.controls.aws_s3_access_logging_test

import data.hatoba.controls.aws_s3_access_logging
import rego.v1

test_logged_passes if {
	count(aws_s3_access_logging.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_s3_bucket", "id": "aws_s3_bucket-1", "config": {"bucket": "b"}},
		{"type": "aws_s3_bucket_logging", "id": "aws_s3_bucket_logging-1", "config": {"bucket": "b", "target_bucket": "logs", "target_prefix": "b/"}},
	]}
}

test_unlogged_is_denied if {
	count(aws_s3_access_logging.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_s3_bucket", "id": "aws_s3_bucket-1", "config": {"bucket": "b"}},
		{"type": "aws_s3_bucket_logging", "id": "aws_s3_bucket_logging-1", "config": {"bucket": "other", "target_bucket": "logs"}},
	]}
}

test_terraform_plan_with_logging_passes if {
	count(aws_s3_access_logging.deny) == 0 with input as {"resource_changes": [
		{"mode": "managed", "type": "aws_s3_bucket", "address": "aws_s3_bucket.b", "change": {"actions": ["create"], "after": {"bucket": "b"}}},
		{"mode": "managed", "type": "aws_s3_bucket_logging", "address": "aws_s3_bucket_logging.b", "change": {"actions": ["create"], "after": {"target_bucket": "logs"}, "after_unknown": {"bucket": true}}},
	]}
}

test_inline_logging_target_known_after_apply_passes if {
	count(aws_s3_access_logging.deny) == 0 with input as {"resource_changes": [
		{"mode": "managed", "type": "aws_s3_bucket", "address": "aws_s3_bucket.b", "change": {"actions": ["create"], "after": {"bucket": "b", "logging": [{"target_prefix": "log/"}]}, "after_unknown": {"logging": [{"target_bucket": true}]}}},
	]}
}

test_inline_logging_to_a_named_bucket_passes if {
	count(aws_s3_access_logging.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_s3_bucket", "id": "aws_s3_bucket.b", "config": {"bucket": "b", "logging": [{"target_bucket": "logs", "target_prefix": "b/"}]}},
	]}
}

test_inline_logging_without_target_is_denied if {
	count(aws_s3_access_logging.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_s3_bucket", "id": "aws_s3_bucket.b", "config": {"bucket": "b", "logging": [{"target_bucket": "", "target_prefix": "b/"}]}},
	]}
}
