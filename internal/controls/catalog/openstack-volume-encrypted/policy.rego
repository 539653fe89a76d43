package hatoba.controls.openstack_volume_encrypted

import data.hatoba.lib
import rego.v1

# Cinder reports encrypted on every volume; a Terraform plan does not, so
# the volume type's name is read instead (hatoba names encrypted types
# "…encrypted…").
encrypted(r) if r.config.encrypted == true

encrypted(r) if {
	object.get(r.config, "encrypted", null) == null
	contains(lower(object.get(r.config, "volume_type", "")), "encrypted")
}

deny contains f if {
	some r in lib.of_type("openstack_blockstorage_volume_v3")
	not encrypted(r)
	f := lib.finding_fmt(r, "volume %v is not encrypted (volume type %q)", [object.get(r.config, "name", ""), object.get(r.config, "volume_type", "")])
}
