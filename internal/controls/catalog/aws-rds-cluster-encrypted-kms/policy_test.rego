package hatoba.controls.aws_rds_cluster_encrypted_kms_test

import data.hatoba.controls.aws_rds_cluster_encrypted_kms
import rego.v1

test_customer_key_passes if {
	count(aws_rds_cluster_encrypted_kms.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_rds_cluster", "id": "aws_rds_cluster-1", "config": {"storage_encrypted": true, "kms_key_id": "arn:aws:kms:ap-northeast-1:111122223333:key/k"}},
	]}
}

test_unencrypted_is_denied if {
	count(aws_rds_cluster_encrypted_kms.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_rds_cluster", "id": "aws_rds_cluster-1", "config": {"storage_encrypted": false}},
	]}
}
