package iac

import (
	"bytes"
	"io"
	"os"
	"testing"
)

// checkResources: what a reader returns is usable — every resource has a
// type, an id, a config and its file.
func checkResources(t *testing.T, rs []Resource) {
	t.Helper()
	for _, r := range rs {
		if r.Type == "" || r.ID == "" || r.Config == nil || r.File != "f" || r.Line < 0 || r.Provider == "" {
			t.Fatalf("invalid resource %+v", r)
		}
	}
}

func addSeeds(f *testing.F, names ...string) {
	for _, n := range names {
		b, err := os.ReadFile("testdata/" + n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func FuzzTerraformPlan(f *testing.F) {
	addSeeds(f, "plan.json", "tf-provider-blocks.json", "tf-s3-inline.json", "tf-planned-values-only.json")
	f.Add([]byte(`{"format_version":"1.2","variables":{"t":{"value":[1]}},"resource_changes":[{"address":"aws_a.b","mode":"managed","type":"aws_a","name":"b","change":{"actions":["create"],"after":{"tags":[1],"tags_all":null},"after_unknown":[true]}}],"configuration":{"provider_config":{"aws":{"expressions":{"default_tags":[{"tags":{"references":["var.t"]}},{"tags":[]}],"features":[{}],"region":[{}]}}}}}`))
	f.Add([]byte(`{"format_version":"1.2","resource_changes":[{"address":"a.b","mode":"managed","type":"a","change":{"actions":["create"],"after":{"x":[1]}}}]}`))
	f.Add([]byte(`{"format_version":"1.2","planned_values":{"root_module":{"child_modules":[{"resources":[{"address":"m","mode":"managed","type":"t"}]}]}}}`))
	f.Add([]byte(`{"resource_changes":[],"configuration":{"provider_config":{"aws":{"expressions":{"region":{"references":["var.r"]}}}}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		rs, err := ReadTerraformPlan("f", b)
		if err != nil {
			return
		}
		checkResources(t, rs)
		if _, err := jsonLines(b, 3); err != nil {
			t.Fatalf("a plan that reads has no positions: %v", err)
		}
	})
}

func FuzzCloudFormation(f *testing.F) {
	addSeeds(f, "template.json", "template.yaml", "clean.yaml", "cfn-params.yaml", "cfn-launch-template.json", "cfn-aurora.yaml")
	f.Add([]byte("Parameters: {P: {Type: CommaDelimitedList, Default: 'a,b'}}\nConditions: {A: !Condition B, B: !And [!Condition A, !Equals [!Select [1, !Ref P], b]]}\nResources:\n  K:\n    Type: AWS::KMS::Key\n    Condition: A\n    Properties: {EnableKeyRotation: !If [A, !Ref AWS::NoValue, !Sub '${P}-${!x}'], Description: !Join [',', !Ref P]}\n"))
	f.Add([]byte(`{"Mappings":{"M":{"a":{"b":{"Ref":"P"}}}},"Parameters":{"P":{"Default":1}},"Resources":{"T":{"Type":"AWS::EC2::LaunchTemplate","Properties":{"LaunchTemplateData":{"NetworkInterfaces":[{"AssociatePublicIpAddress":{"Fn::FindInMap":["M","a","b"]}}],"MetadataOptions":{"Fn::If":["C",{},{}]}}}}}}`))
	f.Add([]byte("Resources:\n  A: &a\n    Type: AWS::S3::Bucket\n    Properties: {AccessControl: !Ref X, <<: {VersioningConfiguration: !If [c, a, b]}}\n  B: *a\n"))
	f.Add([]byte("Resources:\n  G:\n    Type: AWS::EC2::SecurityGroup\n    Properties:\n      SecurityGroupIngress: [{IpProtocol: -1}, !Ref X, 3]\n"))
	f.Add([]byte(`{"Resources":{"I":{"Type":"AWS::EC2::Instance","Properties":{"NetworkInterfaces":[{"AssociatePublicIpAddress":"true"}],"BlockDeviceMappings":[{"Ebs":{}}]}}}}`))
	f.Add([]byte("a: &a [*a, *a]\nResources: {X: {Type: AWS::KMS::Key}}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		rs, err := ReadCloudFormation("f", b)
		if err != nil {
			return
		}
		checkResources(t, rs)
	})
}

// Detection and Read never panic on anything either.
func FuzzIaCRead(f *testing.F) {
	addSeeds(f, "plan.json", "template.json", "template.yaml")
	f.Add([]byte("apiVersion: v1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		// Streamed (hatoba scan's files) as well as whole (the API's).
		if src, err := open(File{Name: "f", Open: reader(b)}); err == nil {
			for i := range src.len() {
				if r, err := src.resource(i); err == nil {
					checkResources(t, []Resource{r})
				}
			}
		}
		rs, _, err := Read(File{Name: "f", Data: b})
		if err != nil {
			return
		}
		checkResources(t, rs)
	})
}

func reader(b []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}
