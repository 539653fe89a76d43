package hatoba.controls.aws_s3_encryption_kms_test

import data.hatoba.controls.aws_s3_encryption_kms
import rego.v1

test_kms_key_passes if {
	count(aws_s3_encryption_kms.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_s3_bucket", "id": "aws_s3_bucket-1", "config": {"bucket": "b"}},
		{"type": "aws_s3_bucket_server_side_encryption_configuration", "id": "aws_s3_bucket_server_side_encryption_configuration-1", "config": {"bucket": "b", "rule": [{"apply_server_side_encryption_by_default": [{"sse_algorithm": "aws:kms", "kms_master_key_id": "arn:aws:kms:ap-northeast-1:111122223333:key/k"}]}]}},
	]}
}

test_sse_s3_is_denied if {
	count(aws_s3_encryption_kms.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_s3_bucket", "id": "aws_s3_bucket-1", "config": {"bucket": "b"}},
		{"type": "aws_s3_bucket_server_side_encryption_configuration", "id": "aws_s3_bucket_server_side_encryption_configuration-1", "config": {"bucket": "b", "rule": [{"apply_server_side_encryption_by_default": [{"sse_algorithm": "AES256"}]}]}},
	]}
}

test_aws_managed_key_is_denied if {
	count(aws_s3_encryption_kms.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_s3_bucket", "id": "aws_s3_bucket-1", "config": {"bucket": "b"}},
		{"type": "aws_s3_bucket_server_side_encryption_configuration", "id": "aws_s3_bucket_server_side_encryption_configuration-1", "config": {"bucket": "b", "rule": [{"apply_server_side_encryption_by_default": [{"sse_algorithm": "aws:kms", "kms_master_key_id": "alias/aws/s3"}]}]}},
	]}
}

test_bucket_without_configuration_is_denied if {
	count(aws_s3_encryption_kms.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_s3_bucket", "id": "aws_s3_bucket-1", "config": {"bucket": "b"}},
	]}
}

test_terraform_plan_key_known_after_apply_passes if {
	count(aws_s3_encryption_kms.deny) == 0 with input as {"resource_changes": [
		{"mode": "managed", "type": "aws_s3_bucket", "address": "aws_s3_bucket.b", "change": {"actions": ["create"], "after": {"bucket": "b"}}},
		{"mode": "managed", "type": "aws_s3_bucket_server_side_encryption_configuration", "address": "aws_s3_bucket_server_side_encryption_configuration.b", "change": {"actions": ["create"], "after": {"rule": [{"apply_server_side_encryption_by_default": [{"sse_algorithm": "aws:kms"}]}]}, "after_unknown": {"bucket": true, "rule": [{"apply_server_side_encryption_by_default": [{"kms_master_key_id": true}]}]}}},
	]}
}

test_terraform_plan_without_key_is_denied if {
	count(aws_s3_encryption_kms.deny) == 1 with input as {"resource_changes": [
		{"mode": "managed", "type": "aws_s3_bucket", "address": "aws_s3_bucket.b", "change": {"actions": ["create"], "after": {"bucket": "b"}}},
		{"mode": "managed", "type": "aws_s3_bucket_server_side_encryption_configuration", "address": "aws_s3_bucket_server_side_encryption_configuration.b", "change": {"actions": ["create"], "after": {"bucket": "b", "rule": [{"apply_server_side_encryption_by_default": [{"sse_algorithm": "aws:kms"}]}]}, "after_unknown": {"bucket": false}}},
	]}
}

test_inline_kms_key_known_after_apply_passes if {
	count(aws_s3_encryption_kms.deny) == 0 with input as {"resource_changes": [
		{"mode": "managed", "type": "aws_s3_bucket", "address": "aws_s3_bucket.b", "change": {"actions": ["create"], "after": {"bucket": "b", "server_side_encryption_configuration": [{"rule": [{"apply_server_side_encryption_by_default": [{"sse_algorithm": "aws:kms"}], "bucket_key_enabled": true}]}]}, "after_unknown": {"server_side_encryption_configuration": [{"rule": [{"apply_server_side_encryption_by_default": [{"kms_master_key_id": true}]}]}]}}},
	]}
}

test_inline_sse_s3_is_denied if {
	count(aws_s3_encryption_kms.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_s3_bucket", "id": "aws_s3_bucket.b", "config": {"bucket": "b", "server_side_encryption_configuration": [{"rule": [{"apply_server_side_encryption_by_default": [{"sse_algorithm": "AES256"}]}]}]}},
	]}
}

test_inline_customer_key_passes if {
	count(aws_s3_encryption_kms.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_s3_bucket", "id": "aws_s3_bucket.b", "config": {"bucket": "b", "server_side_encryption_configuration": [{"rule": [{"apply_server_side_encryption_by_default": [{"sse_algorithm": "aws:kms", "kms_master_key_id": "arn:aws:kms:ap-northeast-1:111122223333:key/k"}]}]}]}},
	]}
}

# A computed block the provider fills in says nothing about the key.
test_computed_inline_block_is_denied if {
	count(aws_s3_encryption_kms.deny) == 1 with input as {"resource_changes": [
		{"mode": "managed", "type": "aws_s3_bucket", "address": "aws_s3_bucket.b", "change": {"actions": ["create"], "after": {"bucket": "b"}, "after_unknown": {"server_side_encryption_configuration": true}}},
	]}
}

# A plan without changes lists its resources in planned_values only.
test_planned_values_only_plan_is_read if {
	count(aws_s3_encryption_kms.deny) == 1 with input as {"format_version": "1.2", "planned_values": {"root_module": {"child_modules": [{"address": "module.m", "resources": [
		{"address": "module.m.aws_s3_bucket.b", "mode": "managed", "type": "aws_s3_bucket", "name": "b", "values": {"bucket": "b"}},
	]}]}}}
}
