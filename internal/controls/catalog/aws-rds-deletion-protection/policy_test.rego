package hatoba.controls.aws_rds_deletion_protection_test

import data.hatoba.controls.aws_rds_deletion_protection
import rego.v1

test_protected_passes if {
	count(aws_rds_deletion_protection.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_db_instance", "id": "aws_db_instance-1", "config": {"deletion_protection": true}},
	]}
}

test_unprotected_is_denied if {
	count(aws_rds_deletion_protection.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_rds_cluster", "id": "aws_rds_cluster-1", "config": {"deletion_protection": false}},
	]}
}

test_terraform_plan_default_is_denied if {
	count(aws_rds_deletion_protection.deny) == 1 with input as {"resource_changes": [
		{"mode": "managed", "type": "aws_db_instance", "address": "aws_db_instance.this", "change": {"actions": ["create"], "after": {"engine": "postgres"}}},
	]}
}

test_aurora_instance_is_judged_at_the_cluster if {
	count(aws_rds_deletion_protection.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_db_instance", "id": "db-1", "config": {"engine": "aurora-mysql"}},
		{"type": "aws_rds_cluster", "id": "cluster-1", "config": {"engine": "aurora-mysql", "deletion_protection": false}},
	]}
}
