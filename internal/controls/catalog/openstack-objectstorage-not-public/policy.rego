package hatoba.controls.openstack_objectstorage_not_public

import data.hatoba.lib
import rego.v1

deny contains f if {
	some r in lib.of_type("openstack_objectstorage_container_v1")
	acl := object.get(r.config, "container_read", "")
	is_string(acl)
	some entry in split(acl, ",")
	trim_space(entry) == ".r:*"
	f := lib.finding_fmt(r, "container %v is readable by anyone (container_read %q)", [object.get(r.config, "name", ""), acl])
}
