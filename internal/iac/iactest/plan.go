// Package iactest writes synthetic infrastructure code for tests and
// benchmarks of internal/iac: a Terraform plan as terraform show -json
// writes it, of any size, with resources of the types the catalog reads
// and a planted share of them non-compliant, so a figure measured on it can
// be measured again (bench/scan).
package iactest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
)

// PlanOptions shape a generated plan. The zero value is a plan like
// terraform show -json writes for a first apply of n resources.
type PlanOptions struct {
	// Resources is the number of managed resources (data sources and the
	// deleted resources the plan also lists are extra).
	Resources int
	// BadEvery makes every BadEvery-th group of resources non-compliant
	// in its own way; 0 means 5 (two groups in five: 40 %).
	BadEvery int
	// UnknownBucketEvery makes every UnknownBucketEvery-th S3 companion
	// (versioning, encryption, public access block) name its bucket by
	// reference (aws_s3_bucket.b.id), known only after the apply, as a plan
	// that creates both writes it; 0 means never. The built-in S3 controls
	// count such a companion for every bucket of the plan.
	UnknownBucketEvery int
	// Lean writes resource_changes only, each with the attributes the
	// controls read (no planned_values, no configuration of resources,
	// no after_unknown beyond what a control reads): about 150 bytes a
	// resource, the density of the 26 MB plan of 200,000 resources in
	// issue 10.
	Lean bool
	// Indent writes the plan indented (terraform show -json writes one
	// line; an indented plan gives findings distinct line numbers).
	Indent bool
}

// kinds is the cycle of resource kinds the generator repeats.
const kinds = 12

// resource is the i-th resource of the plan: its type, name and the
// values after the apply, with after_unknown.
func resource(i int, o PlanOptions) (typ, name string, after, unknown map[string]any) {
	group := i / kinds
	every := o.BadEvery
	if every <= 0 {
		every = 5
	}
	bad := group%every < 2
	bucket := fmt.Sprintf("hatoba-bench-%07d", group)
	name = fmt.Sprintf("r%07d", group)
	unknown = map[string]any{"id": true, "arn": true}
	companion := func(extra map[string]any) map[string]any {
		if o.UnknownBucketEvery > 0 && (i/kinds)%o.UnknownBucketEvery == 0 {
			unknown["bucket"] = true
		} else {
			extra["bucket"] = bucket
		}
		extra["expected_bucket_owner"] = nil
		return extra
	}
	switch i % kinds {
	case 0:
		typ, after = "aws_s3_bucket", map[string]any{"bucket": bucket, "force_destroy": false, "tags": map[string]any{"hatoba:purpose": "production"}}
		unknown["tags_all"] = true
	case 1:
		status := "Enabled"
		if bad {
			status = "Suspended"
		}
		typ, after = "aws_s3_bucket_versioning", companion(map[string]any{"mfa": nil,
			"versioning_configuration": []any{map[string]any{"status": status, "mfa_delete": nil}}})
	case 2:
		alg, key := "aws:kms", "alias/hatoba-bench"
		if bad {
			alg, key = "AES256", ""
		}
		typ, after = "aws_s3_bucket_server_side_encryption_configuration", companion(map[string]any{
			"rule": []any{map[string]any{"bucket_key_enabled": true, "apply_server_side_encryption_by_default": []any{
				map[string]any{"sse_algorithm": alg, "kms_master_key_id": key}}}}})
	case 3:
		typ, after = "aws_s3_bucket_public_access_block", companion(map[string]any{"block_public_acls": !bad,
			"block_public_policy": !bad, "ignore_public_acls": true, "restrict_public_buckets": true})
	case 4:
		cidr := "10.0.0.0/8"
		if bad {
			cidr = "0.0.0.0/0"
		}
		typ, after = "aws_security_group", map[string]any{"name": "sg-" + name, "description": "Managed by Terraform",
			"revoke_rules_on_delete": false, "timeouts": nil,
			"ingress": []any{map[string]any{"from_port": 22, "to_port": 22, "protocol": "tcp", "cidr_blocks": []any{cidr},
				"ipv6_cidr_blocks": []any{}, "prefix_list_ids": []any{}, "security_groups": []any{}, "self": false, "description": ""}}}
		unknown["egress"] = true
	case 5:
		tokens := "required"
		if bad {
			tokens = "optional"
		}
		typ, after = "aws_instance", map[string]any{"ami": "ami-0d52744d6551d851e", "instance_type": "t3.micro",
			"associate_public_ip_address": bad, "get_password_data": false, "monitoring": nil, "tags": map[string]any{"Name": name},
			"metadata_options": []any{map[string]any{"http_endpoint": "enabled", "http_tokens": tokens, "http_put_response_hop_limit": 1}}}
		unknown["public_ip"], unknown["private_ip"] = true, true
	case 6:
		typ, after = "aws_kms_key", map[string]any{"description": "bench key " + name, "enable_key_rotation": !bad,
			"customer_master_key_spec": "SYMMETRIC_DEFAULT", "deletion_window_in_days": 30, "is_enabled": true, "key_usage": "ENCRYPT_DECRYPT"}
		unknown["key_id"], unknown["policy"] = true, true
	case 7:
		typ, after = "aws_db_instance", map[string]any{"identifier": "db-" + name, "engine": "postgres", "engine_version": "16.4",
			"instance_class": "db.t4g.micro", "allocated_storage": 20, "storage_encrypted": !bad, "publicly_accessible": bad,
			"backup_retention_period": 7, "deletion_protection": !bad, "multi_az": !bad, "skip_final_snapshot": true,
			"tags": map[string]any{"hatoba:purpose": "production"}}
		unknown["kms_key_id"], unknown["endpoint"] = true, true
	case 8:
		typ, after = "aws_ebs_volume", map[string]any{"availability_zone": "ap-northeast-1a", "size": 100, "type": "gp3", "encrypted": !bad}
		if !bad {
			unknown["kms_key_id"] = true
		}
	case 9:
		if bad {
			typ, after = "aws_iam_user", map[string]any{"name": "user-" + name, "path": "/", "force_destroy": false}
		} else {
			typ, after = "aws_iam_role", map[string]any{"name": "role-" + name, "path": "/", "max_session_duration": 3600}
		}
	case 10:
		typ, after = "aws_cloudwatch_log_group", map[string]any{"name": "/bench/" + name, "retention_in_days": 30}
	default:
		typ, after = "aws_security_group_rule", map[string]any{"type": "ingress", "protocol": "tcp", "from_port": 3389,
			"to_port": 3389, "cidr_blocks": []any{map[bool]string{true: "0.0.0.0/0", false: "192.168.0.0/16"}[bad]}}
		unknown["security_group_id"] = true
	}
	if o.Lean {
		for k := range after {
			if !read[k] {
				delete(after, k)
			}
		}
		for k := range unknown {
			if !read[k] {
				delete(unknown, k)
			}
		}
	}
	return typ, name, after, unknown
}

// read are the attributes the generated types' controls read; a lean
// plan keeps only these.
var read = map[string]bool{"bucket": true, "versioning_configuration": true, "rule": true, "block_public_acls": true,
	"block_public_policy": true, "ignore_public_acls": true, "restrict_public_buckets": true, "ingress": true,
	"metadata_options": true, "associate_public_ip_address": true, "enable_key_rotation": true, "engine": true,
	"storage_encrypted": true, "publicly_accessible": true, "backup_retention_period": true, "deletion_protection": true,
	"multi_az": true, "encrypted": true, "kms_key_id": true, "name": true, "type": true, "protocol": true,
	"from_port": true, "to_port": true, "cidr_blocks": true}

// WritePlan writes a plan of o.Resources resources to w, one resource at a
// time (the generator holds none of them): planned_values, resource_changes
// with a deleted resource and a data source among them, the AWS provider's
// configuration with its region and default tags, and each resource's
// provider_config_key.
func WritePlan(w io.Writer, o PlanOptions) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	var werr error
	put := func(s string) {
		if werr == nil {
			_, werr = bw.WriteString(s)
		}
	}
	obj := func(v any) {
		if werr != nil {
			return
		}
		var b []byte
		if o.Indent {
			b, werr = json.MarshalIndent(v, "    ", "  ")
		} else {
			b, werr = json.Marshal(v)
		}
		put(string(b))
	}
	nl := func(s string) string {
		if o.Indent {
			return s + "\n"
		}
		return s
	}
	const provider = "registry.terraform.io/hashicorp/aws"
	put(nl(`{"format_version":"1.2","terraform_version":"1.9.8",`))
	put(nl(`"variables":{"region":{"value":"ap-northeast-1"}},`))
	if !o.Lean {
		put(nl(`"planned_values":{"root_module":{"resources":[`))
		for i := range o.Resources {
			typ, name, after, _ := resource(i, o)
			if i > 0 {
				put(nl(","))
			}
			obj(map[string]any{"address": typ + "." + name, "mode": "managed", "type": typ, "name": name,
				"provider_name": provider, "schema_version": 0, "values": after, "sensitive_values": map[string]any{}})
		}
		put(nl(`]}},`))
	}
	put(nl(`"resource_changes":[`))
	obj(map[string]any{"address": "data.aws_caller_identity.current", "mode": "data", "type": "aws_caller_identity",
		"name": "current", "change": map[string]any{"actions": []any{"read"}, "after": map[string]any{}}})
	put(nl(","))
	obj(map[string]any{"address": "aws_iam_user.retired", "mode": "managed", "type": "aws_iam_user", "name": "retired",
		"change": map[string]any{"actions": []any{"delete"}, "after": nil}})
	for i := range o.Resources {
		typ, name, after, unknown := resource(i, o)
		put(nl(","))
		change := map[string]any{"actions": []any{"create"}, "after": after}
		if len(unknown) > 0 {
			change["after_unknown"] = unknown
		}
		rc := map[string]any{"address": typ + "." + name, "mode": "managed", "type": typ, "name": name, "change": change}
		if !o.Lean {
			rc["provider_name"] = provider
			change["before"], change["before_sensitive"], change["after_sensitive"] = nil, false, map[string]any{}
		}
		obj(rc)
	}
	put(nl(`],`))
	put(nl(`"configuration":{"provider_config":{"aws":{"name":"aws","full_name":"` + provider + `","expressions":{` +
		`"region":{"references":["var.region"]},"default_tags":[{"tags":{"constant_value":{"hatoba:classification":"level2"}}}]}}},`))
	put(nl(`"root_module":{"resources":[`))
	if !o.Lean {
		for i := range o.Resources {
			typ, name, _, _ := resource(i, o)
			if i > 0 {
				put(nl(","))
			}
			obj(map[string]any{"address": typ + "." + name, "mode": "managed", "type": typ, "name": name,
				"provider_config_key": "aws", "schema_version": 0})
		}
	}
	put(nl(`],"variables":{"region":{}}}}}`))
	put("\n")
	if werr != nil {
		return fmt.Errorf("iactest: writing the plan: %w", werr)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("iactest: writing the plan: %w", err)
	}
	return nil
}
