package hatoba.controls.aws_redshift_not_public_test

import data.hatoba.controls.aws_redshift_not_public
import rego.v1

test_private_passes if {
	count(aws_redshift_not_public.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_redshift_cluster", "id": "aws_redshift_cluster-1", "config": {"publicly_accessible": false}},
	]}
}

test_public_is_denied if {
	count(aws_redshift_not_public.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_redshift_cluster", "id": "aws_redshift_cluster-1", "config": {"publicly_accessible": true}},
	]}
}

test_terraform_plan_is_read if {
	count(aws_redshift_not_public.deny) == 1 with input as {"resource_changes": [
		{"mode": "managed", "type": "aws_redshift_cluster", "address": "aws_redshift_cluster.this", "change": {"actions": ["create"], "after": {"cluster_identifier": "dw", "publicly_accessible": true}}},
	]}
}
