package hatoba.controls.aws_sns_encrypted_kms_test

import data.hatoba.controls.aws_sns_encrypted_kms
import rego.v1

test_customer_key_passes if {
	count(aws_sns_encrypted_kms.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_sns_topic", "id": "aws_sns_topic-1", "config": {"name": "n", "kms_master_key_id": "arn:aws:kms:ap-northeast-1:111122223333:key/k"}},
	]}
}

test_aws_managed_key_is_denied if {
	count(aws_sns_encrypted_kms.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_sns_topic", "id": "aws_sns_topic-1", "config": {"name": "n", "kms_master_key_id": "alias/aws/sns"}},
	]}
}

test_unencrypted_is_denied if {
	count(aws_sns_encrypted_kms.deny) == 1 with input as {"hatoba_resources": [{"type": "aws_sns_topic", "id": "aws_sns_topic-1", "config": {"name": "n"}}]}
}
