package hatoba.controls.aws_eks_endpoint_private_test

import data.hatoba.controls.aws_eks_endpoint_private
import rego.v1

test_private_passes if {
	count(aws_eks_endpoint_private.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_eks_cluster", "id": "aws_eks_cluster-1", "config": {"name": "c", "vpc_config": [{"endpoint_public_access": false, "endpoint_private_access": true}]}},
	]}
}

test_public_is_denied if {
	count(aws_eks_endpoint_private.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_eks_cluster", "id": "aws_eks_cluster-1", "config": {"name": "c", "vpc_config": [{"endpoint_public_access": true, "public_access_cidrs": ["0.0.0.0/0"]}]}},
	]}
}

test_terraform_plan_default_is_denied if {
	count(aws_eks_endpoint_private.deny) == 1 with input as {"resource_changes": [
		{"mode": "managed", "type": "aws_eks_cluster", "address": "aws_eks_cluster.this", "change": {"actions": ["create"], "after": {"name": "c", "vpc_config": [{"subnet_ids": ["subnet-1"]}]}, "after_unknown": {"vpc_config": [{"vpc_id": true}]}}},
	]}
}
