package hatoba.controls.aws_rds_multi_az_production_test

import data.hatoba.controls.aws_rds_multi_az_production
import rego.v1

test_multi_az_passes if {
	count(aws_rds_multi_az_production.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_db_instance", "id": "aws_db_instance-1", "config": {"multi_az": true, "tags": {"hatoba:purpose": "production"}}},
	]}
}

test_single_az_production_is_denied if {
	count(aws_rds_multi_az_production.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_db_instance", "id": "aws_db_instance-1", "config": {"multi_az": false, "tags": {"hatoba:purpose": "production"}}},
	]}
}

test_single_az_staging_passes if {
	count(aws_rds_multi_az_production.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_db_instance", "id": "aws_db_instance-1", "config": {"multi_az": false, "tags": {"hatoba:purpose": "staging"}}},
	]}
}

test_assignment_purpose_applies if {
	count(aws_rds_multi_az_production.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_db_instance", "id": "aws_db_instance-1", "config": {"multi_az": false}},
	]} with data.hatoba.params.purpose as "production"
}
