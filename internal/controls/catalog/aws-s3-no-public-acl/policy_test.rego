package hatoba.controls.aws_s3_no_public_acl_test

import data.hatoba.controls.aws_s3_no_public_acl
import rego.v1

test_private_passes if {
	count(aws_s3_no_public_acl.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_s3_bucket_acl", "id": "aws_s3_bucket_acl-1", "config": {"bucket": "b", "acl": "private"}},
	]}
}

test_public_read_is_denied if {
	count(aws_s3_no_public_acl.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_s3_bucket_acl", "id": "aws_s3_bucket_acl-1", "config": {"bucket": "b", "acl": "public-read"}},
	]}
}

test_all_users_grant_is_denied if {
	count(aws_s3_no_public_acl.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_s3_bucket_acl", "id": "aws_s3_bucket_acl-1", "config": {"bucket": "b", "access_control_policy": [{"grant": [{"permission": "READ", "grantee": [{"type": "Group", "uri": "http://acs.amazonaws.com/groups/global/AllUsers"}]}]}]}},
	]}
}

test_terraform_plan_is_read if {
	count(aws_s3_no_public_acl.deny) == 1 with input as {"resource_changes": [
		{"mode": "managed", "type": "aws_s3_bucket_acl", "address": "aws_s3_bucket_acl.this", "change": {"actions": ["create"], "after": {"bucket": "b", "acl": "public-read-write"}}},
	]}
}

test_inline_public_acl_is_denied if {
	count(aws_s3_no_public_acl.deny) == 1 with input as {"resource_changes": [
		{"mode": "managed", "type": "aws_s3_bucket", "address": "aws_s3_bucket.site", "change": {"actions": ["create"], "after": {"bucket": "site", "acl": "public-read"}}},
	]}
}

test_inline_private_acl_passes if {
	count(aws_s3_no_public_acl.deny) == 0 with input as {"hatoba_resources": [
		{"type": "aws_s3_bucket", "id": "aws_s3_bucket.b", "config": {"bucket": "b", "acl": "private"}},
	]}
}

test_inline_grant_to_all_users_is_denied if {
	count(aws_s3_no_public_acl.deny) == 1 with input as {"hatoba_resources": [
		{"type": "aws_s3_bucket", "id": "aws_s3_bucket.b", "config": {"bucket": "b", "grant": [{"type": "Group", "uri": "http://acs.amazonaws.com/groups/global/AllUsers", "permissions": ["READ"]}]}},
	]}
}
