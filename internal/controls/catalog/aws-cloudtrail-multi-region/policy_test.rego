package hatoba.controls.aws_cloudtrail_multi_region_test

import data.hatoba.controls.aws_cloudtrail_multi_region
import rego.v1

test_multi_region_passes if {
	count(aws_cloudtrail_multi_region.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_cloudtrail", "id": "aws_cloudtrail-1", "config": {"name": "org", "is_multi_region_trail": true}},
	]}
}

test_single_region_is_denied if {
	count(aws_cloudtrail_multi_region.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_cloudtrail", "id": "aws_cloudtrail-1", "config": {"name": "org", "is_multi_region_trail": false}},
	]}
}

test_terraform_plan_is_read if {
	count(aws_cloudtrail_multi_region.deny) == 1 with input as {"resource_changes": [
		{"mode": "managed", "type": "aws_cloudtrail", "address": "aws_cloudtrail.this", "change": {"actions": ["create"], "after": {"name": "org", "s3_bucket_name": "logs"}}},
	]}
}
