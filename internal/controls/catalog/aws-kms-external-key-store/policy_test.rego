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

# The AWS provider's default_tags reach tags_all, where lib.tag reads
# the classification; the provider block writes them as a nested block.
test_plan_default_tags_classify_the_key if {
	count(aws_kms_external_key_store.deny) == 1 with input as {
		"resource_changes": [{"mode": "managed", "type": "aws_kms_key", "address": "aws_kms_key.k", "name": "k", "change": {"actions": ["create"], "after": {"tags": {"Name": "k"}}, "after_unknown": {"tags_all": true}}}],
		"configuration": {"provider_config": {"aws": {"name": "aws", "expressions": {"region": {"constant_value": "ap-northeast-1"}, "default_tags": [{"tags": {"constant_value": {"hatoba:classification": "level3"}}}]}}}},
	}
}

test_plan_default_tags_from_a_variable if {
	count(aws_kms_external_key_store.deny) == 1 with input as {
		"variables": {"tags": {"value": {"hatoba:classification": "level3"}}},
		"resource_changes": [{"mode": "managed", "type": "aws_kms_key", "address": "aws_kms_key.k", "name": "k", "change": {"actions": ["create"], "after": {}}}],
		"configuration": {"provider_config": {"aws": {"name": "aws", "expressions": {"default_tags": [{"tags": {"references": ["var.tags"]}}]}}}},
	}
}

test_resource_tags_win_over_default_tags if {
	count(aws_kms_external_key_store.deny) == 0 with input as {
		"resource_changes": [{"mode": "managed", "type": "aws_kms_key", "address": "aws_kms_key.k", "name": "k", "change": {"actions": ["create"], "after": {"tags": {"hatoba:classification": "level2"}}}}],
		"configuration": {"provider_config": {"aws": {"name": "aws", "expressions": {"default_tags": [{"tags": {"constant_value": {"hatoba:classification": "level3"}}}]}}}},
	}
}
