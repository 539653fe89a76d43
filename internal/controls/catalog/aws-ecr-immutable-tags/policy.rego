package hatoba.controls.aws_ecr_immutable_tags

import data.hatoba.lib
import rego.v1

deny contains f if {
	some r in lib.of_type("aws_ecr_repository")
	not object.get(r.config, "image_tag_mutability", "MUTABLE") in {"IMMUTABLE", "IMMUTABLE_WITH_EXCLUSION"}
	f := lib.finding(r, "image tags can be overwritten (image_tag_mutability is MUTABLE)")
}
