package hatoba.controls.aws_kms_rotation_test

import data.hatoba.controls.aws_kms_rotation
import rego.v1

test_rotating_passes if {
	count(aws_kms_rotation.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_kms_key", "id": "aws_kms_key-1", "config": {"enable_key_rotation": true}},
	]}
}

test_not_rotating_is_denied if {
	count(aws_kms_rotation.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_kms_key", "id": "aws_kms_key-1", "config": {"enable_key_rotation": false}},
	]}
}

test_external_key_store_is_exempt if {
	count(aws_kms_rotation.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_kms_key", "id": "aws_kms_key-1", "config": {"enable_key_rotation": false, "custom_key_store_id": "cks-1"}},
	]}
}

test_terraform_plan_default_is_denied if {
	count(aws_kms_rotation.deny) == 1 with input as {"resource_changes": [
		{"mode": "managed", "type": "aws_kms_key", "address": "aws_kms_key.this", "change": {"actions": ["create"], "after": {"description": "k", "enable_key_rotation": false, "customer_master_key_spec": "SYMMETRIC_DEFAULT"}}},
	]}
}
