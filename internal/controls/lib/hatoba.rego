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
# managed resource the plan creates, updates or keeps, as it will be after
# the apply — from resource_changes, or from planned_values when the plan
# has no resource_changes (a plan without changes). internal/iac's Go
# reader (terraform.go) makes the same resources from the same plan: the
# same region, the same tags_all, the same unknown values; a test
# compares the two on every plan in internal/iac/testdata.
resources contains r if {
	some r in plan_resources
}

plan_resources := [r |
	some rc in input.resource_changes
	rc.mode == "managed"
	not deleted(rc)
	r := plan_resource(rc.address, object.get(rc, "module_address", ""), rc.type, object.get(rc, "name", ""), object.get(rc.change, "after", {}), object.get(rc.change, "after_unknown", {}))
] if {
	not input.hatoba_resources
	count(input.resource_changes) > 0
} else := [r |
	walk(input.planned_values.root_module, [path, v])
	module_path(path)
	some pr in v.resources
	pr.mode == "managed"
	r := plan_resource(pr.address, object.get(v, "address", ""), pr.type, object.get(pr, "name", ""), object.get(pr, "values", {}), {})
] if {
	not input.hatoba_resources
}

# module_path(path): path leads to a module of planned_values (the root
# module, or child_modules[i]… under it), not into a resource's values.
module_path(path) if {
	every i, p in path {
		child_module_step(i, p)
	}
}

child_module_step(i, p) if {
	i % 2 == 0
	p == "child_modules"
}

child_module_step(i, p) if {
	i % 2 == 1
	is_number(p)
}

# A change that removes the resource for good; a replacement creates it again.
deleted(rc) if {
	some a in rc.change.actions
	a in {"delete", "forget"}
	not "create" in rc.change.actions
}

# provider_of(t): the provider a type's prefix names (aws_s3_bucket → aws).
provider_of(t) := p if {
	parts := split(t, "_")
	count(parts) > 1
	p := parts[0]
	p != ""
} else := "other"

plan_resource(address, module, t, name, after, unknown) := {
	"provider": provider_of(t),
	"type": t,
	"id": address,
	"region": plan_region(pc),
	"environment": "",
	"config": with_default_tags(object_or_empty(after), default_tags(pc, t)),
	"unknown": object_or_empty(unknown),
	"references": plan_references(module, t, name),
} if {
	pc := plan_provider(module, t, name)
}

# plan_references: what the plan's configuration says a resource's
# arguments refer to — "bucket", the aws_s3_bucket its bucket argument
# names (the first reference naming one, in the resource's own module
# instance); for each key argument, its first reference, or "" when the
# code does not set it (the provider computes it: the AWS managed key).
# internal/iac's planReferences reads the same.
plan_references(module, t, name) := object.union(bucket_reference(module, cr), key_references(cr)) if {
	some cr in object.get(config_module(module), "resources", [])
	cr.address == concat(".", [t, name])
} else := {}

bucket_reference(module, cr) := {"bucket": qualified(module, refs[0])} if {
	refs := [m |
		some raw in object.get(cr, ["expressions", "bucket", "references"], [])
		some m in regex.find_n(`^aws_s3_bucket\.[A-Za-z0-9_-]+(\[[^\]]*\])?`, raw, 1)
	]
	count(refs) > 0
} else := {}

key_arguments := ["kms_key_id", "kms_master_key_id", "kms_key_arn"]

key_references(cr) := {arg: ref |
	some arg in key_arguments
	ref := first_reference(object.get(cr, ["expressions", arg], null))
} if {
	is_object(object.get(cr, "expressions", null))
} else := {}

first_reference(null) := ""

first_reference(e) := e.references[0] if {
	is_object(e)
	count(object.get(e, "references", [])) > 0
}

qualified("", ref) := ref

qualified(module, ref) := concat(".", [module, ref]) if module != ""

object_or_empty(x) := x if is_object(x)

object_or_empty(x) := {} if not is_object(x)

# plan_provider is the provider block that configures a resource: the one
# its configuration names (provider_config_key), else the default block
# of its provider; {} when the plan has none.
plan_provider(module, t, name) := pc if {
	pc := input.configuration.provider_config[provider_key(module, t, name)]
} else := pc if {
	parts := split(provider_key(module, t, name), ":")
	count(parts) == 2
	pc := input.configuration.provider_config[parts[1]]
} else := pc if {
	pc := input.configuration.provider_config[provider_of(t)]
} else := {}

provider_key(module, t, name) := key if {
	some cr in object.get(config_module(module), "resources", [])
	cr.address == concat(".", [t, name])
	key := cr.provider_config_key
	key != ""
} else := provider_of(t)

# config_module is a module's configuration: module.a["x"].module.b is
# root_module.module_calls.a.module.module_calls.b.module.
config_module(module) := object.get(input.configuration.root_module, path, {}) if {
	parts := split(regex.replace(module, `\[[^\]]*\]`, ""), ".")
	path := [step |
		some i, part in parts
		i % 2 == 1
		some step in ["module_calls", part, "module"]
	]
}

config_module("") := object.get(input.configuration, "root_module", {})

# expression_value(pc, e): a provider argument's value when the plan says
# it — a constant, or in the root module one root variable.
expression_value(_, e) := e.constant_value if e.constant_value != null

expression_value(pc, e) := input.variables[v].value if {
	object.get(e, "constant_value", null) == null
	object.get(pc, "module_address", "") == ""
	v := trim_prefix(e.references[0], "var.")
	startswith(e.references[0], "var.")
}

plan_region(pc) := region if {
	region := expression_value(pc, pc.expressions.region)
	is_string(region)
} else := ""

# default_tags(pc, t): the AWS provider's default_tags { tags = … } — a
# nested block, written as an array of blocks.
default_tags(pc, t) := object.union_n([tags |
	some b in object.get(pc, ["expressions", "default_tags"], [])
	tags := expression_value(pc, b.tags)
	is_object(tags)
]) if {
	provider_of(t) == "aws"
	is_array(object.get(pc, ["expressions", "default_tags"], null))
} else := {}

# with_default_tags: where the plan does not know tags_all, what the
# provider will make of it — the default tags, the resource's own over them.
with_default_tags(config, defaults) := config if count(defaults) == 0

with_default_tags(config, defaults) := config if {
	count(defaults) > 0
	object.get(config, "tags_all", null) != null
}

with_default_tags(config, defaults) := object.union(config, {"tags_all": object.union(defaults, object_or_empty(object.get(config, "tags", {})))}) if {
	count(defaults) > 0
	object.get(config, "tags_all", null) == null
}

# of_type is the resources of type t: what every control iterates. It is
# an array, not a set, built straight from the input — a set of objects
# would hash every resource's whole configuration on each evaluation.
of_type(t) := [r | some r in input.hatoba_resources; r.type == t] if input.hatoba_resources

of_type(t) := [r | some r in plan_resources; r.type == t] if not input.hatoba_resources

# finding is what a control's deny rule returns: the message and the
# resource it is about, so hatoba can record it per resource (conftest
# prints msg). msg is a constant English sentence; format is it as a
# sprintf format (a "%" doubled), the key under which control.yaml's
# messages translate it.
finding(r, msg) := {"msg": sprintf("%s: %s", [r.id, msg]), "resource": r.id, "type": r.type, "format": replace(msg, "%", "%%"), "params": []}

# finding_fmt is finding of a message with values in it: format is a
# constant English sprintf format (the key control.yaml's messages
# translate), params its values — data the console shows as they are in
# either language. A value that is neither a string nor a number is kept
# as sprintf writes it, so the console renders what msg says.
finding_fmt(r, format, params) := {
	"msg": sprintf("%s: %s", [r.id, sprintf(format, params)]),
	"resource": r.id, "type": r.type, "format": format,
	"params": [p | some x in params; p := message_param(x)],
}

message_param(x) := x if is_string(x)

message_param(x) := x if is_number(x)

message_param(x) := sprintf("%v", [x]) if {
	not is_string(x)
	not is_number(x)
}

# The regions data may stay in: Japan's two AWS regions and the domestic
# OpenStack regions, unless the operators name others in
# data.hatoba.params.domestic_regions.
default domestic_regions := {"ap-northeast-1", "ap-northeast-3", "jp-east-1", "jp-west-1"}

domestic_regions := regions if {
	regions := {r | some r in data.hatoba.params.domestic_regions}
	count(regions) > 0
}
