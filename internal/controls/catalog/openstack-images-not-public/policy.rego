package hatoba.controls.openstack_images_not_public

import data.hatoba.lib
import rego.v1

deny contains f if {
	some r in lib.of_type("openstack_images_image_v2")
	r.config.visibility in {"public", "community"}
	f := lib.finding_fmt(r, "image %v is visible to every project (visibility %s)", [object.get(r.config, "name", ""), r.config.visibility])
}
