package hatoba.controls.aws_cloudtrail_kms_test

import data.hatoba.controls.aws_cloudtrail_kms
import rego.v1

test_kms_passes if {
	count(aws_cloudtrail_kms.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_cloudtrail", "id": "aws_cloudtrail-1", "config": {"name": "org", "kms_key_id": "arn:aws:kms:ap-northeast-1:111122223333:key/k"}},
	]}
}

test_no_key_is_denied if {
	count(aws_cloudtrail_kms.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_cloudtrail", "id": "aws_cloudtrail-1", "config": {"name": "org", "kms_key_id": ""}},
	]}
}

test_terraform_plan_key_known_after_apply_passes if {
	count(aws_cloudtrail_kms.deny) == 0 with input as {"resource_changes": [
		{"mode": "managed", "type": "aws_cloudtrail", "address": "aws_cloudtrail.this", "change": {"actions": ["create"], "after": {"name": "org"}, "after_unknown": {"kms_key_id": true}}},
	]}
}

test_terraform_plan_without_key_is_denied if {
	count(aws_cloudtrail_kms.deny) == 1 with input as {"resource_changes": [
		{"mode": "managed", "type": "aws_cloudtrail", "address": "aws_cloudtrail.this", "change": {"actions": ["create"], "after": {"name": "org"}}},
	]}
}
