package hatoba.controls.aws_lb_listener_tls

import data.hatoba.lib
import rego.v1

# Policies that allow only TLS 1.2 and later: ELBSecurityPolicy-TLS13-1-2-*,
# -TLS13-1-3-*, -TLS-1-2-*, -FS-1-2-* (and their FIPS and PQ variants).
modern(policy) if regex.match(`^ELBSecurityPolicy-(TLS13-1-[23]|TLS-1-2|FS-1-2)(-|$)`, policy)

redirects_to_https(r) if {
	some a in lib.list(object.get(r.config, "default_action", []))
	a.type == "redirect"
	some rd in lib.list(object.get(a, "redirect", []))
	rd.protocol == "HTTPS"
}

deny contains f if {
	some t in {"aws_lb_listener", "aws_alb_listener"}
	some r in lib.of_type(t)
	r.config.protocol == "HTTP"
	not redirects_to_https(r)
	f := lib.finding_fmt(r, "the listener on port %v serves plain HTTP", [object.get(r.config, "port", "")])
}

deny contains f if {
	some t in {"aws_lb_listener", "aws_alb_listener"}
	some r in lib.of_type(t)
	r.config.protocol in {"HTTPS", "TLS"}
	policy := object.get(r.config, "ssl_policy", "")
	not modern(policy)
	f := lib.finding_fmt(r, "the listener's TLS policy %q allows versions older than TLS 1.2 (or is the default)", [policy])
}
