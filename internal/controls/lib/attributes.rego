# Helpers the catalog's controls share, beside hatoba.rego: reading
# attributes that a Terraform plan knows only after the apply, the region
# and purpose of a resource, and the admin ports. docs/controls.md.
package hatoba.lib

import rego.v1

# known_after_apply(r, path) is true when r comes from a Terraform plan and
# the attribute at path (["kms_key_id"], ["rule", 0, "apply_server_side_encryption_by_default", 0, "kms_master_key_id"])
# is "known after apply": a reference to a resource the same plan creates.
# Such a value is absent from change.after and set in change.after_unknown,
# which both readers of a plan (hatoba.rego's and internal/iac's) carry
# as r.unknown. Only the attribute itself counts: a whole block that is
# unknown (a computed server_side_encryption_configuration = true) says
# nothing about what is inside it.
known_after_apply(r, path) if walk(object.get(r, "unknown", {}), [path, true])

# configures_bucket(c, b): c — an S3 companion (versioning, encryption,
# logging, public access block) — configures bucket b: it names b's
# bucket, or (in a Terraform plan) its bucket is known only after the
# apply and the plan's configuration says it refers to b, or says
# nothing (it may be b's, so it counts).
configures_bucket(c, b) if c.config.bucket == b.config.bucket

configures_bucket(c, b) if {
	known_after_apply(c, ["bucket"])
	refers_to(c, "bucket", b)
}

refers_to(c, arg, _) if object.get(c, ["references", arg], "") == ""

refers_to(c, arg, b) if c.references[arg] == b.id

# A reference without an index (count.index, each.key) names every
# instance of the resource.
refers_to(c, arg, b) if c.references[arg] == regex.replace(b.id, `\[[^\]]*\]$`, "")

# present(r, path): the attribute at path of r's config has a value (not
# null, "", false, [] or {}), or will have one after the apply.
present(r, path) if {
	walk(r.config, [path, v])
	not empty(v)
}

present(r, path) if known_after_apply(r, path)

empty(null)

empty("")

empty(false)

empty([])

empty({})

# customer_key(r, path): the attribute at path names a KMS key the
# customer manages. AWS managed keys (alias/aws/…) are not; inventory
# collectors leave the attribute empty for them (docs/controls.md).
customer_key(r, path) if {
	present(r, path)
	not aws_managed_key(r, path)
	not computed_key(r, path)
}

# computed_key(r, path): in a Terraform plan, a key argument the code does
# not set, which the provider computes — the AWS managed key — though the
# plan marks it unknown like a reference to a key it creates.
computed_key(r, path) if {
	count(path) == 1
	known_after_apply(r, path)
	object.get(r, ["references", path[0]], null) == ""
}

aws_managed_key(r, path) if {
	walk(r.config, [path, v])
	is_string(v)
	contains(v, "alias/aws/")
}

# region(r): the resource's region, or for a Terraform plan the resource's
# region argument; undefined when neither is known.
region(r) := r.region if {
	is_string(r.region)
	r.region != ""
}

region(r) := r.config.region if {
	object.get(r, "region", "") == ""
	is_string(r.config.region)
	r.config.region != ""
}

# tag(r, k): the value of r's tag k (tags, or tags_all for what the
# provider adds).
tag(r, k) := r.config.tags[k]

tag(r, k) := r.config.tags_all[k] if not r.config.tags[k]

# purpose(r): production, staging or development — the hatoba:purpose
# tag hatoba puts on what it vends, else the purpose the assignment gives
# in data.hatoba.params.purpose.
purpose(r) := tag(r, "hatoba:purpose")

purpose(r) := data.hatoba.params.purpose if not tag(r, "hatoba:purpose")

# classification(r): level1, level2 or level3 (機密性1–3), from the
# hatoba:classification tag or data.hatoba.params.classification.
classification(r) := tag(r, "hatoba:classification")

classification(r) := data.hatoba.params.classification if not tag(r, "hatoba:classification")

# The ports of remote administration that must not be open to the
# internet, unless the operators name others in
# data.hatoba.params.admin_ports.
default admin_ports := {22, 23, 3389, 5900, 5985, 5986}

admin_ports := {p | some p in data.hatoba.params.admin_ports} if data.hatoba.params.admin_ports

# world(cidr): the address range is the whole internet.
world(cidr) if cidr in {"0.0.0.0/0", "::/0"}

# list(x): x when it is an array, else empty (a null attribute).
list(x) := x if is_array(x)

list(x) := [] if not is_array(x)

# aurora(r): r is a DB instance of an Aurora cluster. Its storage encryption,
# backups and deletion protection are the cluster's (aws_rds_cluster),
# which is judged instead; the inventory names Aurora members
# aws_db_instance with their aurora* engine.
aurora(r) if {
	r.type == "aws_db_instance"
	engine := object.get(r.config, "engine", "")
	is_string(engine)
	startswith(lower(engine), "aurora")
}
