package hatoba.controls.aws_default_sg_closed_test

import data.hatoba.controls.aws_default_sg_closed
import rego.v1

test_closed_passes if {
	count(aws_default_sg_closed.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_default_security_group", "id": "aws_default_security_group-1", "config": {"vpc_id": "vpc-1", "ingress": [], "egress": []}},
	]}
}

test_open_is_denied if {
	count(aws_default_sg_closed.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_default_security_group", "id": "aws_default_security_group-1", "config": {"vpc_id": "vpc-1", "ingress": [{"protocol": "-1", "self": true, "from_port": 0, "to_port": 0}], "egress": []}},
	]}
}
