package hatoba.controls.aws_elasticache_in_transit_encrypted_test

import data.hatoba.controls.aws_elasticache_in_transit_encrypted
import rego.v1

test_encrypted_passes if {
	count(aws_elasticache_in_transit_encrypted.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_elasticache_replication_group", "id": "aws_elasticache_replication_group-1", "config": {"transit_encryption_enabled": true, "transit_encryption_mode": "required"}},
	]}
}

test_unencrypted_is_denied if {
	count(aws_elasticache_in_transit_encrypted.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_elasticache_replication_group", "id": "aws_elasticache_replication_group-1", "config": {"transit_encryption_enabled": false}},
	]}
}

test_preferred_mode_is_denied if {
	count(aws_elasticache_in_transit_encrypted.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_elasticache_replication_group", "id": "aws_elasticache_replication_group-1", "config": {"transit_encryption_enabled": true, "transit_encryption_mode": "preferred"}},
	]}
}
