package hatoba.controls.aws_rds_backup_retention_test

import data.hatoba.controls.aws_rds_backup_retention
import rego.v1

test_seven_days_pass if {
	count(aws_rds_backup_retention.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_db_instance", "id": "aws_db_instance-1", "config": {"backup_retention_period": 7}},
		{"type": "aws_rds_cluster", "id": "aws_rds_cluster-1", "config": {"backup_retention_period": 35}},
	]}
}

test_one_day_is_denied if {
	count(aws_rds_backup_retention.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_rds_cluster", "id": "aws_rds_cluster-1", "config": {"backup_retention_period": 1}},
	]}
}

test_aurora_instance_is_judged_at_the_cluster if {
	count(aws_rds_backup_retention.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_db_instance", "id": "db-1", "config": {"engine": "aurora-mysql", "backup_retention_period": 1}},
		{"type": "aws_rds_cluster", "id": "cluster-1", "config": {"engine": "aurora-mysql", "backup_retention_period": 7}},
	]}
}
