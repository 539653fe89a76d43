package hatoba.controls.aws_region_domestic_test

import data.hatoba.controls.aws_region_domestic
import rego.v1

test_tokyo_passes if {
	count(aws_region_domestic.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_instance", "id": "aws_instance-1", "config": {}, "region": "ap-northeast-1"},
		{"type": "aws_s3_bucket", "id": "aws_s3_bucket-1", "config": {"bucket": "b"}, "region": "ap-northeast-3"},
	]}
}

test_virginia_is_denied if {
	count(aws_region_domestic.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_s3_bucket", "id": "aws_s3_bucket-1", "config": {"bucket": "b"}, "region": "us-east-1"},
	]}
}

test_operators_regions_apply if {
	count(aws_region_domestic.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_s3_bucket", "id": "aws_s3_bucket-1", "config": {"bucket": "b"}, "region": "us-east-1"},
	]} with data.hatoba.params.domestic_regions as ["us-east-1"]
}

test_terraform_plan_region_argument_is_read if {
	count(aws_region_domestic.deny) == 1 with input as {"resource_changes": [
		{"mode": "managed", "type": "aws_db_instance", "address": "aws_db_instance.this", "change": {"actions": ["create"], "after": {"region": "eu-west-1", "engine": "postgres"}}},
	]}
}

test_terraform_plan_without_region_does_not_fire if {
	count(aws_region_domestic.deny) == 0 with input as {"resource_changes": [
		{"mode": "managed", "type": "aws_db_instance", "address": "aws_db_instance.this", "change": {"actions": ["create"], "after": {"engine": "postgres"}}},
	]}
}

# conftest reads the region of a plan's provider block as hatoba scan does.
test_plan_provider_region_is_judged if {
	count(aws_region_domestic.deny) == 1 with input as {
		"resource_changes": [{"mode": "managed", "type": "aws_s3_bucket", "address": "module.m.aws_s3_bucket.b", "module_address": "module.m", "name": "b", "change": {"actions": ["create"], "after": {"bucket": "b"}}}],
		"configuration": {
			"provider_config": {"aws.us": {"name": "aws", "alias": "us", "expressions": {"region": {"constant_value": "us-east-1"}}}, "aws": {"name": "aws", "expressions": {"region": {"constant_value": "ap-northeast-1"}}}},
			"root_module": {"module_calls": {"m": {"module": {"resources": [{"address": "aws_s3_bucket.b", "provider_config_key": "aws.us"}]}}}},
		},
	}
}
