package hatoba.controls.aws_ec2_imdsv2

import data.hatoba.lib
import rego.v1

required(r) if {
	some m in lib.list(object.get(r.config, "metadata_options", []))
	m.http_tokens == "required"
}

deny contains f if {
	some t in {"aws_instance", "aws_launch_template"}
	some r in lib.of_type(t)
	not required(r)
	f := lib.finding(r, "instance metadata does not require IMDSv2 (metadata_options http_tokens is not required)")
}
