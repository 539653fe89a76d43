package hatoba.controls.aws_ebs_encrypted_kms_test

import data.hatoba.controls.aws_ebs_encrypted_kms
import rego.v1

test_customer_key_passes if {
	count(aws_ebs_encrypted_kms.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_ebs_volume", "id": "aws_ebs_volume-1", "config": {"encrypted": true, "kms_key_id": "arn:aws:kms:ap-northeast-1:111122223333:key/k", "size": 10}},
	]}
}

test_unencrypted_is_denied if {
	count(aws_ebs_encrypted_kms.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_ebs_volume", "id": "aws_ebs_volume-1", "config": {"encrypted": false, "size": 10}},
	]}
}

test_aws_managed_key_is_denied if {
	count(aws_ebs_encrypted_kms.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_ebs_volume", "id": "aws_ebs_volume-1", "config": {"encrypted": true, "size": 10}},
	]}
}

test_terraform_plan_key_known_after_apply_passes if {
	count(aws_ebs_encrypted_kms.deny) == 0 with input as {"resource_changes": [
		{"mode": "managed", "type": "aws_ebs_volume", "address": "aws_ebs_volume.this", "change": {"actions": ["create"], "after": {"encrypted": true, "size": 10}, "after_unknown": {"kms_key_id": true}}},
	]}
}

test_terraform_plan_unencrypted_is_denied if {
	count(aws_ebs_encrypted_kms.deny) == 1 with input as {"resource_changes": [
		{"mode": "managed", "type": "aws_ebs_volume", "address": "aws_ebs_volume.this", "change": {"actions": ["create"], "after": {"encrypted": false, "size": 10}}},
	]}
}

# encrypted = true with no kms_key_id in the code: the provider computes
# the key (AWS's managed aws/ebs) though the plan marks it unknown, as it
# marks a reference; the configuration tells them apart.
test_terraform_plan_computed_key_is_denied if {
	count(aws_ebs_encrypted_kms.deny) == 1 with input as {
		"resource_changes": [
			{"mode": "managed", "type": "aws_ebs_volume", "name": "v", "address": "aws_ebs_volume.v", "change": {"actions": ["create"], "after": {"encrypted": true, "size": 10}, "after_unknown": {"kms_key_id": true}}},
		],
		"configuration": {"root_module": {"resources": [
			{"address": "aws_ebs_volume.v", "expressions": {"encrypted": {"constant_value": true}, "size": {"constant_value": 10}}},
		]}},
	}
}

test_terraform_plan_key_reference_passes if {
	count(aws_ebs_encrypted_kms.deny) == 0 with input as {
		"resource_changes": [
			{"mode": "managed", "type": "aws_ebs_volume", "name": "v", "address": "aws_ebs_volume.v", "change": {"actions": ["create"], "after": {"encrypted": true, "size": 10}, "after_unknown": {"kms_key_id": true}}},
		],
		"configuration": {"root_module": {"resources": [
			{"address": "aws_ebs_volume.v", "expressions": {"encrypted": {"constant_value": true}, "kms_key_id": {"references": ["aws_kms_key.ebs.arn", "aws_kms_key.ebs"]}}},
		]}},
	}
}
