package hatoba.controls.aws_dynamodb_pitr_test

import data.hatoba.controls.aws_dynamodb_pitr
import rego.v1

test_enabled_passes if {
	count(aws_dynamodb_pitr.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_dynamodb_table", "id": "aws_dynamodb_table-1", "config": {"name": "t", "point_in_time_recovery": [{"enabled": true}]}},
	]}
}

test_disabled_is_denied if {
	count(aws_dynamodb_pitr.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_dynamodb_table", "id": "aws_dynamodb_table-1", "config": {"name": "t", "point_in_time_recovery": [{"enabled": false}]}},
	]}
}
