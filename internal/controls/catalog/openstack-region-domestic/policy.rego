package hatoba.controls.openstack_region_domestic

import data.hatoba.lib
import rego.v1

deny contains f if {
	some t in input_types
	some r in lib.of_type(t)
	region := lib.region(r)
	not region in lib.domestic_regions
	f := lib.finding_fmt(r, "%s is in region %q, which is not a domestic region (%s)", [r.type, region, concat(", ", sort(lib.domestic_regions))])
}

input_types := {"openstack_compute_instance_v2", "openstack_blockstorage_volume_v3", "openstack_objectstorage_container_v1", "openstack_images_image_v2", "openstack_networking_network_v2"}
