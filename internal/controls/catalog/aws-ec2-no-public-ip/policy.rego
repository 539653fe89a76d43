package hatoba.controls.aws_ec2_no_public_ip

import data.hatoba.lib
import rego.v1

# A launch template's network interface with a public IP: Terraform writes
# associate_public_ip_address there as a string ("true"), CloudFormation
# as a boolean.
deny contains f if {
	some r in lib.of_type("aws_launch_template")
	some i, ni in lib.list(object.get(r.config, "network_interfaces", []))
	ni.associate_public_ip_address in {true, "true"}
	f := lib.finding_fmt(r, "the launch template gives network interface %v a public IP address", [object.get(ni, "device_index", i)])
}

deny contains f if {
	some r in lib.of_type("aws_instance")
	r.config.associate_public_ip_address == true
	f := lib.finding(r, "the instance has a public IP address")
}

deny contains f if {
	some r in lib.of_type("aws_instance")
	not r.config.associate_public_ip_address == true
	is_string(r.config.public_ip)
	r.config.public_ip != ""
	f := lib.finding_fmt(r, "the instance has the public IP address %s", [r.config.public_ip])
}
