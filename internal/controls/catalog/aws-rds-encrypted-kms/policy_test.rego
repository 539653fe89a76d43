package hatoba.controls.aws_rds_encrypted_kms_test

import data.hatoba.controls.aws_rds_encrypted_kms
import rego.v1

test_customer_key_passes if {
	count(aws_rds_encrypted_kms.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_db_instance", "id": "aws_db_instance-1", "config": {"storage_encrypted": true, "kms_key_id": "arn:aws:kms:ap-northeast-1:111122223333:key/k"}},
	]}
}

test_unencrypted_is_denied if {
	count(aws_rds_encrypted_kms.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_db_instance", "id": "aws_db_instance-1", "config": {"storage_encrypted": false}},
	]}
}

test_terraform_plan_key_known_after_apply_passes if {
	count(aws_rds_encrypted_kms.deny) == 0 with input as {"resource_changes": [
		{"mode": "managed", "type": "aws_db_instance", "address": "aws_db_instance.this", "change": {"actions": ["create"], "after": {"storage_encrypted": true, "engine": "postgres"}, "after_unknown": {"kms_key_id": true}}},
	]}
}

test_terraform_plan_default_key_is_denied if {
	count(aws_rds_encrypted_kms.deny) == 1 with input as {"resource_changes": [
		{"mode": "managed", "type": "aws_db_instance", "address": "aws_db_instance.this", "change": {"actions": ["create"], "after": {"storage_encrypted": true, "engine": "postgres"}}},
	]}
}

# Aurora encrypts at the cluster (aws-rds-cluster-encrypted-kms).
test_aurora_instance_is_judged_at_the_cluster if {
	count(aws_rds_encrypted_kms.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_db_instance", "id": "db-1", "config": {"engine": "aurora-postgresql", "storage_encrypted": false}},
	]}
}
