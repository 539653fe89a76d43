package hatoba.controls.aws_lb_listener_tls_test

import data.hatoba.controls.aws_lb_listener_tls
import rego.v1

test_modern_tls_passes if {
	count(aws_lb_listener_tls.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_lb_listener", "id": "aws_lb_listener-1", "config": {"port": 443, "protocol": "HTTPS", "ssl_policy": "ELBSecurityPolicy-TLS13-1-2-2021-06"}},
	]}
}

test_http_redirect_passes if {
	count(aws_lb_listener_tls.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_lb_listener", "id": "aws_lb_listener-1", "config": {"port": 80, "protocol": "HTTP", "default_action": [{"type": "redirect", "redirect": [{"protocol": "HTTPS", "port": "443", "status_code": "HTTP_301"}]}]}},
	]}
}

test_plain_http_is_denied if {
	count(aws_lb_listener_tls.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_alb_listener", "id": "aws_alb_listener-1", "config": {"port": 80, "protocol": "HTTP", "default_action": [{"type": "forward"}]}},
	]}
}

test_old_policy_is_denied if {
	count(aws_lb_listener_tls.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_lb_listener", "id": "aws_lb_listener-1", "config": {"port": 443, "protocol": "TLS", "ssl_policy": "ELBSecurityPolicy-2016-08"}},
	]}
}

test_terraform_plan_is_read if {
	count(aws_lb_listener_tls.deny) == 1 with input as {"resource_changes": [
		{"mode": "managed", "type": "aws_lb_listener", "address": "aws_lb_listener.this", "change": {"actions": ["create"], "after": {"port": 443, "protocol": "HTTPS", "ssl_policy": "ELBSecurityPolicy-TLS13-1-1-2021-06"}, "after_unknown": {"load_balancer_arn": true}}},
	]}
}
