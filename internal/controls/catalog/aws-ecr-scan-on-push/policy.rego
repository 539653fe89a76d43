package hatoba.controls.aws_ecr_scan_on_push

import data.hatoba.lib
import rego.v1

scans(r) if {
	some s in lib.list(object.get(r.config, "image_scanning_configuration", []))
	s.scan_on_push == true
}

deny contains f if {
	some r in lib.of_type("aws_ecr_repository")
	not scans(r)
	f := lib.finding(r, "images are not scanned on push")
}
