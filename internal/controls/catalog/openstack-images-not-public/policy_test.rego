package hatoba.controls.openstack_images_not_public_test

import data.hatoba.controls.openstack_images_not_public
import rego.v1

test_private_passes if {
	count(openstack_images_not_public.deny) == 0 with input as {"hatoba_resources": [
		{"type": "openstack_images_image_v2", "id": "openstack_images_image_v2-1", "config": {"name": "base", "visibility": "private"}},
	]}
}

test_public_is_denied if {
	count(openstack_images_not_public.deny) == 1 with input as {"hatoba_resources": [
		{"type": "openstack_images_image_v2", "id": "openstack_images_image_v2-1", "config": {"name": "base", "visibility": "public"}},
	]}
}
