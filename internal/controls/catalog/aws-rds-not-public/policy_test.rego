package hatoba.controls.aws_rds_not_public_test

import data.hatoba.controls.aws_rds_not_public
import rego.v1

test_private_passes if {
	count(aws_rds_not_public.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_db_instance", "id": "aws_db_instance-1", "config": {"publicly_accessible": false}},
	]}
}

test_public_is_denied if {
	count(aws_rds_not_public.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_db_instance", "id": "aws_db_instance-1", "config": {"publicly_accessible": true}},
	]}
}

test_public_aurora_instance_is_denied if {
	count(aws_rds_not_public.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_rds_cluster_instance", "id": "writer", "config": {"engine": "aurora-mysql", "publicly_accessible": true}},
	]}
}
