package hatoba.controls.aws_ec2_imdsv2

import data.hatoba.lib
import rego.v1

required(r) if {
	some m in lib.list(object.get(r.config, "metadata_options", []))
	m.http_tokens == "required"
}

# An instance that takes its metadata options from a launch template (and
# sets none of its own) is judged at the template, which is in the input
# as aws_launch_template when the same code makes it.
from_launch_template(r) if {
	r.type == "aws_instance"
	count(lib.list(object.get(r.config, "launch_template", []))) > 0
	count(lib.list(object.get(r.config, "metadata_options", []))) == 0
}

deny contains f if {
	some t in {"aws_instance", "aws_launch_template"}
	some r in lib.of_type(t)
	not required(r)
	not from_launch_template(r)
	f := lib.finding(r, "instance metadata does not require IMDSv2 (metadata_options http_tokens is not required)")
}
