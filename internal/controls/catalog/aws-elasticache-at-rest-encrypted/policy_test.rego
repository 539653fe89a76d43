package hatoba.controls.aws_elasticache_at_rest_encrypted_test

import data.hatoba.controls.aws_elasticache_at_rest_encrypted
import rego.v1

test_encrypted_passes if {
	count(aws_elasticache_at_rest_encrypted.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_elasticache_replication_group", "id": "aws_elasticache_replication_group-1", "config": {"at_rest_encryption_enabled": true}},
	]}
}

test_unencrypted_is_denied if {
	count(aws_elasticache_at_rest_encrypted.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_elasticache_replication_group", "id": "aws_elasticache_replication_group-1", "config": {"at_rest_encryption_enabled": false}},
	]}
}
