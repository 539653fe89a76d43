package hatoba.controls.aws_sg_no_public_admin_ports

import data.hatoba.lib
import rego.v1

# rules are r's ingress rules in one shape: protocol, from, to, cidrs.
rules(r) := [{"protocol": object.get(i, "protocol", ""), "from": object.get(i, "from_port", 0), "to": object.get(i, "to_port", 0), "cidrs": array.concat(lib.list(object.get(i, "cidr_blocks", [])), lib.list(object.get(i, "ipv6_cidr_blocks", [])))} |
	some i in lib.list(object.get(r.config, "ingress", []))
] if r.type == "aws_security_group"

rules(r) := [{"protocol": object.get(r.config, "protocol", ""), "from": object.get(r.config, "from_port", 0), "to": object.get(r.config, "to_port", 0), "cidrs": array.concat(lib.list(object.get(r.config, "cidr_blocks", [])), lib.list(object.get(r.config, "ipv6_cidr_blocks", [])))}] if {
	r.type == "aws_security_group_rule"
	r.config.type == "ingress"
}

rules(r) := [{"protocol": object.get(r.config, "ip_protocol", ""), "from": object.get(r.config, "from_port", 0), "to": object.get(r.config, "to_port", 0), "cidrs": [c | some c in [object.get(r.config, "cidr_ipv4", ""), object.get(r.config, "cidr_ipv6", "")]; c != ""]}] if {
	r.type == "aws_vpc_security_group_ingress_rule"
}

all_protocols(p) if format_int_or_string(p) in {"-1", "all"}

format_int_or_string(p) := p if is_string(p)

format_int_or_string(p) := sprintf("%d", [p]) if is_number(p)

# opens(rule, port): the rule lets the port in.
opens(rule, _) if all_protocols(rule.protocol)

opens(rule, port) if {
	format_int_or_string(rule.protocol) in {"tcp", "6", "udp", "17"}
	rule.from <= port
	port <= rule.to
}

deny contains f if {
	some t in {"aws_security_group", "aws_security_group_rule", "aws_vpc_security_group_ingress_rule"}
	some r in lib.of_type(t)
	some rule in rules(r)
	some cidr in rule.cidrs
	lib.world(cidr)
	ports := sort([p | some p in lib.admin_ports; opens(rule, p)])
	count(ports) > 0
	f := lib.finding_fmt(r, "ingress from %s is open to admin ports %v (protocol %v, ports %v-%v)", [cidr, ports, rule.protocol, rule.from, rule.to])
}
