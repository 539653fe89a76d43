package hatoba.controls.aws_kms_external_key_store_test

import data.hatoba.controls.aws_kms_external_key_store
import rego.v1

test_external_key_store_passes if {
	count(aws_kms_external_key_store.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_kms_key", "id": "aws_kms_key-1", "config": {"custom_key_store_id": "cks-1", "tags": {"hatoba:classification": "level3"}}},
	]}
}

test_aws_held_level3_key_is_denied if {
	count(aws_kms_external_key_store.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_kms_key", "id": "aws_kms_key-1", "config": {"tags": {"hatoba:classification": "level3"}}},
	]}
}

test_level2_key_passes if {
	count(aws_kms_external_key_store.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_kms_key", "id": "aws_kms_key-1", "config": {"tags": {"hatoba:classification": "level2"}}},
	]}
}

test_assignment_classification_applies if {
	count(aws_kms_external_key_store.deny) == 1 with input as {"hatoba_resources": [{"type": "aws_kms_key", "id": "aws_kms_key-1", "config": {}}]} with data.hatoba.params.classification as "level3"
}
