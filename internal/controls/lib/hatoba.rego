# The library every control imports: the resources under evaluation,
# whichever input they came in, in one normalised shape (docs/controls.md):
#
#   {"provider": "aws", "type": "aws_s3_bucket", "id": "…", "region": "ap-northeast-1",
#    "environment": "…", "config": {…}}
#
# Types are Terraform's resource type names (aws_*, openstack_*), which
# name AWS and OpenStack resources alike; config is the resource's
# configuration in Terraform's attribute shape.
package hatoba.lib

import rego.v1

# hatoba's own input: the inventory or a scan, already normalised.
resources contains r if {
	some r in input.hatoba_resources
}

# A Terraform plan (terraform show -json), as conftest reads it: every
# resource the plan creates or keeps, as it will be after the apply.
resources contains r if {
	some rc in input.resource_changes
	rc.mode == "managed"
	not deleted(rc)
	r := plan_resource(rc)
}

deleted(rc) if rc.change.actions == ["delete"]

provider_of(t) := "aws" if startswith(t, "aws_")

provider_of(t) := "openstack" if startswith(t, "openstack_")

provider_of(t) := "other" if {
	not startswith(t, "aws_")
	not startswith(t, "openstack_")
}

# of_type is the resources of type t: what every control iterates. It is
# an array, not a set, built straight from the input — a set of objects
# would hash every resource's whole configuration on each evaluation.
of_type(t) := [r | some r in input.hatoba_resources; r.type == t] if input.hatoba_resources

of_type(t) := [r |
	some rc in input.resource_changes
	rc.type == t
	rc.mode == "managed"
	not deleted(rc)
	r := plan_resource(rc)
] if {
	not input.hatoba_resources
}

plan_resource(rc) := {
	"provider": provider_of(rc.type),
	"type": rc.type,
	"id": rc.address,
	"region": "",
	"environment": "",
	"config": object.get(rc.change, "after", {}),
}

# finding is what a control's deny rule returns: the message and the
# resource it is about, so hatoba can record it per resource (conftest
# prints msg).
finding(r, msg) := {"msg": sprintf("%s: %s", [r.id, msg]), "resource": r.id, "type": r.type}

# The regions data may stay in: Japan's two AWS regions and the domestic
# OpenStack regions, unless the operators name others in
# data.hatoba.params.domestic_regions.
default domestic_regions := {"ap-northeast-1", "ap-northeast-3", "jp-east-1", "jp-west-1"}

domestic_regions := regions if {
	regions := {r | some r in data.hatoba.params.domestic_regions}
	count(regions) > 0
}
