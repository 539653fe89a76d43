package iac

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/hatoba-cloud/hatoba/internal/controls"
)

// builtinEngine is the built-in catalog's engine, compiled once for the
// tests that judge real-shaped code with the real controls.
var builtinEngine = sync.OnceValues(func() (*controls.Engine, error) {
	cs, err := controls.Builtin()
	if err != nil {
		return nil, err
	}
	return controls.NewEngine(context.Background(), cs)
})

// findings scans one testdata file with the built-in catalog and returns
// "control resource" for each result, and the messages by that key.
func findings(t *testing.T, name string, params map[string]string) (map[string]bool, map[string]string) {
	t.Helper()
	e, err := builtinEngine()
	if err != nil {
		t.Fatal(err)
	}
	f := readTestdata(t, name)
	f.Params = params
	rep, err := Scan(context.Background(), e, []File{f})
	if err != nil {
		t.Fatal(err)
	}
	got, msgs := map[string]bool{}, map[string]string{}
	for _, r := range rep.Results {
		k := r.ControlID + " " + r.Resource
		got[k] = true
		msgs[k] = r.Message
	}
	return got, msgs
}

// The defects of issue 17, each as the built-in controls judge a small
// plan or template: want are findings that must be there, not those that
// must not.
func TestIaCBuiltinFindings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, file string
		params     map[string]string
		want, not  []string
		messages   map[string]string // key → a part of its message
	}{
		{name: "ok/provider-blocks-and-default-tags", file: "tf-provider-blocks.json",
			want: []string{
				// default_tags' level-3 classification reaches the key's tags_all
				"aws-kms-external-key-store aws_kms_key.records",
				// the aliased provider's default_tags (a root variable) say production
				"aws-rds-multi-az-production aws_db_instance.records",
			},
			not: []string{"aws-kms-rotation aws_kms_key.records", "aws-region-domestic aws_kms_key.records",
				// a kms_key_id known after the apply is a customer's key
				"aws-rds-encrypted-kms aws_db_instance.records"}},
		{name: "ok/inline-s3-arguments", file: "tf-s3-inline.json",
			want: []string{
				"aws-s3-no-public-acl aws_s3_bucket.site",
				"aws-s3-encryption-kms aws_s3_bucket.site",
				"aws-s3-encryption-kms aws_s3_bucket.logs",
				"aws-s3-access-logging aws_s3_bucket.logs",
				"aws-s3-versioning aws_s3_bucket.site",
			},
			not: []string{
				"aws-s3-encryption-kms aws_s3_bucket.docs", // inline KMS key from the same plan
				"aws-s3-access-logging aws_s3_bucket.docs", // inline target known after apply
				"aws-s3-versioning aws_s3_bucket.docs",
				"aws-s3-no-public-acl aws_s3_bucket.docs",
				"aws-s3-no-public-acl aws_s3_bucket.logs",
				// a block whose bucket is known only after the apply may be anyone's
				"aws-s3-public-access-block aws_s3_bucket.docs",
			},
			messages: map[string]string{"aws-s3-no-public-acl aws_s3_bucket.site": `"juminhyo-site"`}},
		{name: "ok/planned-values-only", file: "tf-planned-values-only.json",
			want: []string{"aws-s3-no-public-acl aws_s3_bucket.site", "aws-kms-rotation module.keys.aws_kms_key.main",
				"aws-region-domestic aws_s3_bucket.site", "aws-region-domestic module.keys.aws_kms_key.main",
				"aws-s3-public-access-block aws_s3_bucket.site"},
			not: []string{"aws-kms-external-key-store module.keys.aws_kms_key.main"}},
		{name: "fail/parameter-defaults-open-admin-ports", file: "cfn-params.yaml",
			want: []string{
				"aws-sg-no-public-admin-ports BastionSecurityGroup", // SSH to a defaulted 0.0.0.0/0
				"aws-sg-no-public-admin-ports RdpIngress",           // RDP to a defaulted ::/0
				"aws-s3-public-access-block Records",                // Fn::If gives AWS::NoValue in dev
				"aws-s3-no-public-acl Site/acl",                     // created only in dev
				"aws-kms-rotation RecordsKey",                       // Fn::If gives false in dev
				"aws-kms-rotation ScratchKey",                       // absent: AWS's default, off
			},
			messages: map[string]string{"aws-s3-no-public-acl Site/acl": `bucket "!Ref Site" has the public canned ACL "public-read"`}},
		{name: "ok/parameters-given-on-the-command-line", file: "cfn-params.yaml",
			params: map[string]string{"Env": "prod", "SSHLocation": "10.0.0.0/8", "RDPRange": "fd00::/8", "Unused": "x"},
			want:   []string{"aws-kms-rotation ScratchKey"},
			not: []string{"aws-sg-no-public-admin-ports BastionSecurityGroup", "aws-sg-no-public-admin-ports RdpIngress",
				"aws-s3-public-access-block Records", "aws-kms-rotation RecordsKey", "aws-s3-no-public-acl Site/acl"}},
		{name: "fail/launch-templates", file: "cfn-launch-template.json",
			want: []string{"aws-ec2-imdsv2 WebTemplate", "aws-ec2-no-public-ip WebTemplate"},
			not:  []string{"aws-ec2-imdsv2 AppTemplate", "aws-ec2-no-public-ip AppTemplate", "aws-ec2-imdsv2 App"}},
		{name: "ok/aurora-is-judged-at-the-cluster", file: "cfn-aurora.yaml",
			want: []string{"aws-rds-encrypted-kms Legacy"},
			not: []string{"aws-rds-encrypted-kms Writer", "aws-rds-cluster-encrypted-kms Cluster",
				"aws-rds-backup-retention Writer", "aws-rds-deletion-protection Writer", "aws-rds-not-public Writer"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, msgs := findings(t, tc.file, tc.params)
			for _, w := range tc.want {
				if !got[w] {
					t.Errorf("missing finding %q; have %v", w, sortedKeys(got))
				}
			}
			for _, n := range tc.not {
				if got[n] {
					t.Errorf("unexpected finding %q: %s", n, msgs[n])
				}
			}
			for k, part := range tc.messages {
				if !strings.Contains(msgs[k], part) {
					t.Errorf("%s: message %q does not contain %q", k, msgs[k], part)
				}
			}
		})
	}
}

// The Go reader carries what a plan knows: region and default tags from
// nested provider blocks, after_unknown as Unknown.
func TestIaCReadTerraformProviderBlocks(t *testing.T) {
	t.Parallel()
	rs, _, err := Read(readTestdata(t, "tf-provider-blocks.json"))
	if err != nil {
		t.Fatal(err)
	}
	got := byKey(rs)
	for _, tc := range []struct {
		key, region string
		attr        string
		want        any
	}{
		{"aws_kms_key aws_kms_key.records", "ap-northeast-1", "tags_all",
			map[string]any{"hatoba:classification": "level3", "system": "juminhyo", "Name": "records"}},
		{"aws_db_instance aws_db_instance.records", "ap-northeast-1", "tags_all",
			map[string]any{"hatoba:purpose": "production", "system": "juminhyo"}},
		// a plan that knows tags_all keeps it
		{"aws_s3_bucket aws_s3_bucket.keep", "ap-northeast-1", "tags_all", map[string]any{"system": "juminhyo"}},
		{"azurerm_resource_group azurerm_resource_group.main", "", "tags_all", nil},
	} {
		r, ok := got[tc.key]
		if !ok {
			t.Fatalf("%s: missing; have %v", tc.key, keys(got))
		}
		if r.Region != tc.region || !reflect.DeepEqual(r.Config[tc.attr], tc.want) {
			t.Errorf("%s: region %q, %s = %#v; want %q, %#v", tc.key, r.Region, tc.attr, r.Config[tc.attr], tc.region, tc.want)
		}
	}
	if u := got["aws_db_instance aws_db_instance.records"].Unknown; u["kms_key_id"] != true {
		t.Errorf("unknown values not carried: %#v", u)
	}
}

// One rule, both paths: every plan in testdata gives the same findings
// whether hatoba scan reads it (the Go reader, hatoba_resources) or the
// controls read the plan itself as conftest does (lib/hatoba.rego).
func TestIaCPlanParityWithConftest(t *testing.T) {
	t.Parallel()
	e, err := builtinEngine()
	if err != nil {
		t.Fatal(err)
	}
	lib, err := controls.Library()
	if err != nil {
		t.Fatal(err)
	}
	var opts []func(*rego.Rego)
	for name, src := range lib {
		opts = append(opts, rego.Module(name, src))
	}
	var proactive []controls.Control
	for _, c := range e.Controls() {
		if c.Has(controls.Proactive) {
			proactive = append(proactive, c)
			opts = append(opts, rego.Module(c.ID+"/policy.rego", c.Policy))
		}
	}
	q, err := rego.New(append(opts, rego.Query("data.hatoba.controls"), rego.SetRegoVersion(ast.RegoV1))...).
		PrepareForEval(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"plan.json", "tf-provider-blocks.json", "tf-s3-inline.json", "tf-planned-values-only.json"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := readTestdata(t, name)
			rep, err := Scan(context.Background(), e, []File{f})
			if err != nil {
				t.Fatal(err)
			}
			var hatoba []string
			for _, r := range rep.Results {
				hatoba = append(hatoba, r.ControlID+" | "+r.Message)
			}
			var input any
			if err := json.Unmarshal(f.Data, &input); err != nil {
				t.Fatal(err)
			}
			rs, err := q.Eval(context.Background(), rego.EvalInput(input))
			if err != nil || len(rs) != 1 {
				t.Fatalf("conftest's path: %v (%d results)", err, len(rs))
			}
			pkgs, _ := rs[0].Expressions[0].Value.(map[string]any)
			var conftest []string
			for _, c := range proactive {
				pkg, _ := pkgs[strings.TrimPrefix(c.Package(), "hatoba.controls.")].(map[string]any)
				deny, _ := pkg["deny"].([]any)
				for _, d := range deny {
					m, _ := d.(map[string]any)
					conftest = append(conftest, fmt.Sprintf("%s | %v", c.ID, m["msg"]))
				}
			}
			sort.Strings(hatoba)
			sort.Strings(conftest)
			if !slices.Equal(hatoba, conftest) {
				t.Errorf("hatoba scan and conftest differ:\nhatoba:   %q\nconftest: %q", hatoba, conftest)
			}
			if len(hatoba) == 0 {
				t.Errorf("no findings: the comparison says nothing")
			}
		})
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
