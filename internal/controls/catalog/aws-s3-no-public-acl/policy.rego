package hatoba.controls.aws_s3_no_public_acl

import data.hatoba.lib
import rego.v1

public_acls := {"public-read", "public-read-write", "authenticated-read"}

public_groups := {"http://acs.amazonaws.com/groups/global/AllUsers", "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"}

# The separate aws_s3_bucket_acl resource and the aws_s3_bucket resource's
# own acl argument and grant blocks (AWS provider v3's inline form, still
# accepted) are judged alike.
deny contains f if {
	some t in {"aws_s3_bucket_acl", "aws_s3_bucket"}
	some r in lib.of_type(t)
	r.config.acl in public_acls
	f := lib.finding_fmt(r, "bucket %q has the public canned ACL %q", [object.get(r.config, "bucket", ""), r.config.acl])
}

deny contains f if {
	some r in lib.of_type("aws_s3_bucket_acl")
	some policy in lib.list(object.get(r.config, "access_control_policy", []))
	some grant in lib.list(object.get(policy, "grant", []))
	some grantee in lib.list(object.get(grant, "grantee", []))
	grantee.uri in public_groups
	f := lib.finding_fmt(r, "bucket %q grants %s to %s", [object.get(r.config, "bucket", ""), object.get(grant, "permission", ""), grantee.uri])
}

deny contains f if {
	some r in lib.of_type("aws_s3_bucket")
	some grant in lib.list(object.get(r.config, "grant", []))
	grant.uri in public_groups
	f := lib.finding_fmt(r, "bucket %q grants %s to %s", [object.get(r.config, "bucket", ""), concat(", ", [sprintf("%v", [p]) | some p in lib.list(object.get(grant, "permissions", []))]), grant.uri])
}
