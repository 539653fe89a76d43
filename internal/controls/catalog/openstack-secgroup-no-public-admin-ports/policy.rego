package hatoba.controls.openstack_secgroup_no_public_admin_ports

import data.hatoba.lib
import rego.v1

# source(r) is the rule's remote prefix; a rule without prefix or remote
# group admits any address.
source(r) := r.config.remote_ip_prefix if {
	is_string(r.config.remote_ip_prefix)
	r.config.remote_ip_prefix != ""
}

source(r) := "any address" if {
	not lib.present(r, ["remote_ip_prefix"])
	not lib.present(r, ["remote_group_id"])
	not lib.present(r, ["remote_address_group_id"])
}

public(r) if lib.world(source(r))

public(r) if source(r) == "any address"

all_ports(r) if not lib.present(r, ["protocol"])

# tcp or udp without a port range (Terraform and Neutron say 0 or null).
all_ports(r) if {
	r.config.protocol in {"tcp", "udp", "6", "17"}
	object.get(r.config, "port_range_min", 0) in {0, null}
	object.get(r.config, "port_range_max", 0) in {0, null}
}

opens(r, _) if all_ports(r)

opens(r, port) if {
	r.config.protocol in {"tcp", "udp", "6", "17"}
	r.config.port_range_min <= port
	port <= r.config.port_range_max
}

deny contains f if {
	some r in lib.of_type("openstack_networking_secgroup_rule_v2")
	r.config.direction == "ingress"
	public(r)
	ports := sort([p | some p in lib.admin_ports; opens(r, p)])
	count(ports) > 0
	f := lib.finding_fmt(r, "ingress from %s is open to admin ports %v", [source(r), ports])
}
