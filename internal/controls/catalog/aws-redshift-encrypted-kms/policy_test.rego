package hatoba.controls.aws_redshift_encrypted_kms_test

import data.hatoba.controls.aws_redshift_encrypted_kms
import rego.v1

test_customer_key_passes if {
	count(aws_redshift_encrypted_kms.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_redshift_cluster", "id": "aws_redshift_cluster-1", "config": {"encrypted": true, "kms_key_id": "arn:aws:kms:ap-northeast-1:111122223333:key/k"}},
	]}
}

test_unencrypted_is_denied if {
	count(aws_redshift_encrypted_kms.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_redshift_cluster", "id": "aws_redshift_cluster-1", "config": {"encrypted": false}},
	]}
}
