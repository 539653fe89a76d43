package hatoba.controls.aws_lambda_not_public

import data.hatoba.lib
import rego.v1

deny contains f if {
	some r in lib.of_type("aws_lambda_permission")
	r.config.principal == "*"
	f := lib.finding_fmt(r, "function %v may be invoked by anyone (principal \"*\")", [object.get(r.config, "function_name", "")])
}

deny contains f if {
	some r in lib.of_type("aws_lambda_function_url")
	r.config.authorization_type == "NONE"
	f := lib.finding_fmt(r, "function %v has a URL without authentication", [object.get(r.config, "function_name", "")])
}
