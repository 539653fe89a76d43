package hatoba.controls.aws_ecr_scan_on_push_test

import data.hatoba.controls.aws_ecr_scan_on_push
import rego.v1

test_scanning_passes if {
	count(aws_ecr_scan_on_push.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_ecr_repository", "id": "aws_ecr_repository-1", "config": {"name": "app", "image_scanning_configuration": [{"scan_on_push": true}]}},
	]}
}

test_not_scanning_is_denied if {
	count(aws_ecr_scan_on_push.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_ecr_repository", "id": "aws_ecr_repository-1", "config": {"name": "app", "image_scanning_configuration": [{"scan_on_push": false}]}},
	]}
}
