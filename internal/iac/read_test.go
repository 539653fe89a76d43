package iac

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/fault"
)

func readTestdata(t *testing.T, name string) File {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return File{Name: "testdata/" + name, Data: b}
}

// byKey indexes resources by type and id.
func byKey(rs []Resource) map[string]Resource {
	out := map[string]Resource{}
	for _, r := range rs {
		out[r.Type+" "+r.ID] = r
	}
	return out
}

func TestIaCReadTerraformPlan(t *testing.T) {
	t.Parallel()
	f := readTestdata(t, "plan.json")
	rs, format, err := Read(f)
	if err != nil {
		t.Fatal(err)
	}
	if format != TerraformPlan {
		t.Fatalf("format %q", format)
	}
	got := byKey(rs)
	if len(rs) != 4 {
		t.Fatalf("want 4 resources (no delete, no data source), got %d: %v", len(rs), keys(got))
	}
	for _, tc := range []struct {
		key, region string
		line        int
		attr        string
		want        any
	}{
		{"aws_iam_user aws_iam_user.deployer", "ap-northeast-1", 58, "name", "deployer"},
		{"aws_s3_bucket aws_s3_bucket.dr_copy", "ap-northeast-3", 83, "bucket", "juminhyo-dr-copy"},
		{"aws_s3_bucket module.storage.aws_s3_bucket.logs", "ap-northeast-1", 104, "bucket", "juminhyo-logs"},
		{"aws_s3_bucket_versioning module.storage.aws_s3_bucket_versioning.logs", "ap-northeast-1", 117,
			"versioning_configuration", []any{map[string]any{"status": "Suspended"}}},
	} {
		r, ok := got[tc.key]
		if !ok {
			t.Errorf("%s: missing; have %v", tc.key, keys(got))
			continue
		}
		if r.Provider != "aws" || r.Region != tc.region || r.File != f.Name || r.Line != tc.line {
			t.Errorf("%s: provider %q region %q at %s:%d; want aws %q at line %d", tc.key, r.Provider, r.Region, r.File, r.Line, tc.region, tc.line)
		}
		if !reflect.DeepEqual(r.Config[tc.attr], tc.want) {
			t.Errorf("%s: %s = %#v, want %#v", tc.key, tc.attr, r.Config[tc.attr], tc.want)
		}
	}
}

// A plan without changes lists its resources in planned_values only,
// child modules included.
func TestIaCReadTerraformPlanWithoutChanges(t *testing.T) {
	t.Parallel()
	plan := `{"format_version":"1.2","planned_values":{"root_module":{"resources":[
	  {"address":"aws_iam_user.a","mode":"managed","type":"aws_iam_user","name":"a","values":{"name":"a"}}],
	  "child_modules":[{"address":"module.m","resources":[
	  {"address":"module.m.aws_kms_key.k","mode":"managed","type":"aws_kms_key","name":"k","values":{"enable_key_rotation":true}}]}]}},
	  "configuration":{"provider_config":{"aws":{"name":"aws","expressions":{"region":{"constant_value":"ap-northeast-1"}}}}}}`
	rs, err := ReadTerraformPlan("p.json", []byte(plan))
	if err != nil {
		t.Fatal(err)
	}
	got := byKey(rs)
	if len(rs) != 2 || got["aws_kms_key module.m.aws_kms_key.k"].Region != "ap-northeast-1" {
		t.Fatalf("resources: %+v", rs)
	}
}

func TestIaCReadErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, data, want string
		read             func(string, []byte) ([]Resource, error)
	}{
		{"fail/plan-reader-on-other-json", `{"hello": "world"}`, "not a Terraform plan: no format_version/resource_changes", ReadTerraformPlan},
		{"fail/state-is-not-a-plan", `{"format_version": "1.0", "values": {}}`, "no resource_changes or planned_values", ReadTerraformPlan},
		{"fail/plan-resource-without-type", `{"format_version": "1.2", "resource_changes": [{"mode": "managed", "address": "x", "change": {"actions": ["create"]}}]}`, "resource_changes[0] has no type or address", ReadTerraformPlan},
		{"fail/cfn-without-resources", "AWSTemplateFormatVersion: 2010-09-09\n", "no Resources", ReadCloudFormation},
		{"fail/cfn-resource-without-type", "Resources:\n  A:\n    Properties: {}\n", "resource A has no Type", ReadCloudFormation},
		{"fail/cfn-properties-not-mapping", `{"Resources": {"A": {"Type": "AWS::IAM::User", "Properties": [1]}}}`, "Properties is not a mapping", ReadCloudFormation},
		{"fail/cfn-bad-yaml", "Resources: [\n", "not a CloudFormation template", ReadCloudFormation},
		{"fail/detect-other-json", `{"kind": "Deployment"}`, "x.txt: neither a Terraform plan", nil},
		{"fail/detect-other-yaml", "apiVersion: v1\nkind: Pod\n", "x.txt: neither a Terraform plan", nil},
		{"fail/detect-empty", " \n", "x.txt: the file is empty", nil},
		{"fail/detect-bad-json", `{"a":`, "x.txt: not valid JSON", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var err error
			if tc.read != nil {
				_, err = tc.read("x.txt", []byte(tc.data))
			} else {
				_, _, err = Read(File{Name: "x.txt", Data: []byte(tc.data)})
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if fault.KindOf(err) != fault.Invalid {
				t.Fatalf("error kind %q, want invalid", fault.KindOf(err))
			}
		})
	}
}

func keys(m map[string]Resource) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// A file's region fills in the region its code does not name.
func TestIaCReadRegion(t *testing.T) {
	t.Parallel()
	f := readTestdata(t, "template.yaml")
	f.Region = "us-east-1"
	rs, _, err := Read(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.Region != "us-east-1" {
			t.Fatalf("%s: region %q", r.ID, r.Region)
		}
	}
	p := readTestdata(t, "plan.json")
	p.Region = "us-east-1"
	rs, _, err = Read(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := byKey(rs)["aws_s3_bucket aws_s3_bucket.dr_copy"].Region; got != "ap-northeast-3" {
		t.Fatalf("the plan's own region was replaced: %q", got)
	}
}
