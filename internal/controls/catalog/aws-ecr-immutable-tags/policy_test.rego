package hatoba.controls.aws_ecr_immutable_tags_test

import data.hatoba.controls.aws_ecr_immutable_tags
import rego.v1

test_immutable_passes if {
	count(aws_ecr_immutable_tags.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_ecr_repository", "id": "aws_ecr_repository-1", "config": {"name": "app", "image_tag_mutability": "IMMUTABLE"}},
	]}
}

test_mutable_is_denied if {
	count(aws_ecr_immutable_tags.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_ecr_repository", "id": "aws_ecr_repository-1", "config": {"name": "app", "image_tag_mutability": "MUTABLE"}},
	]}
}
