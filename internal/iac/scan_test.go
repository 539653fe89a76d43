package iac

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/fault"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// testControl is a control for these tests only: they must not change
// when the catalog grows.
func testControl(id string, sev controls.Severity, types []string, body string) controls.Control {
	pkg := controls.Control{ID: id}.Package()
	return controls.Control{
		ID:            id,
		Title:         controls.Text{Ja: id + "（テスト）", En: id + " (test)"},
		Description:   controls.Text{Ja: "テスト用の統制", En: "A control for the scanner's tests"},
		Severity:      sev,
		Kinds:         []controls.Kind{controls.Proactive, controls.Detective},
		ResourceTypes: types,
		Remediation:   controls.Text{Ja: "直す", En: "Fix " + id},
		Frameworks:    controls.Frameworks{NIST80053: []string{"SC-28"}, CIS: []string{"AWS-2.1.1"}},
		Policy:        "package " + pkg + "\n\nimport data.hatoba.lib\nimport rego.v1\n\n" + body,
	}
}

// testEngine is the built-in aws-iam-no-users and three test controls,
// plus one that is detective only (a scan must not run it).
func testEngine(t testing.TB) *controls.Engine {
	t.Helper()
	builtin, err := controls.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	var cs []controls.Control
	for _, c := range builtin {
		if c.ID == "aws-iam-no-users" {
			cs = append(cs, c)
		}
	}
	cs = append(cs,
		testControl("test-open-ssh", controls.Critical, []string{"aws_security_group", "aws_vpc_security_group_ingress_rule"}, `
deny contains f if {
	some r in lib.of_type("aws_security_group")
	some rule in r.config.ingress
	"0.0.0.0/0" in rule.cidr_blocks
	rule.from_port <= 22
	rule.to_port >= 22
	f := lib.finding(r, "SSH is open to the internet")
}

deny contains f if {
	some r in lib.of_type("aws_vpc_security_group_ingress_rule")
	r.config.cidr_ipv4 == "0.0.0.0/0"
	r.config.from_port <= 22
	r.config.to_port >= 22
	f := lib.finding(r, "SSH is open to the internet")
}
`),
		testControl("test-bucket-versioning", controls.Medium, []string{"aws_s3_bucket_versioning"}, `
deny contains f if {
	some r in lib.of_type("aws_s3_bucket_versioning")
	some v in r.config.versioning_configuration
	v.status != "Enabled"
	f := lib.finding(r, sprintf("versioning is %s", [v.status]))
}
`),
		testControl("test-rds-encrypted", controls.Low, []string{"aws_db_instance"}, `
deny contains f if {
	some r in lib.of_type("aws_db_instance")
	not r.config.storage_encrypted == true
	f := lib.finding(r, "storage is not encrypted")
}
`),
		func() controls.Control {
			c := testControl("test-detective-only", controls.Critical, []string{"aws_iam_user"}, `
deny contains f if {
	some r in lib.of_type("aws_iam_user")
	f := lib.finding(r, "detective only")
}
`)
			c.Kinds = []controls.Kind{controls.Detective}
			return c
		}(),
	)
	e, err := controls.NewEngine(context.Background(), cs)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func scanTestdata(t *testing.T) Report {
	t.Helper()
	var files []File
	for _, name := range []string{"plan.json", "template.json", "template.yaml", "clean.yaml"} {
		files = append(files, readTestdata(t, name))
	}
	rep, err := Scan(context.Background(), testEngine(t), files)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestScan(t *testing.T) {
	t.Parallel()
	rep := scanTestdata(t)
	type want struct {
		control, resource, file string
		line                    int
	}
	var got []want
	for _, r := range rep.Results {
		got = append(got, want{r.ControlID, r.Resource, r.File, r.Line})
		if r.ControlID == "test-detective-only" {
			t.Errorf("a detective-only control ran: %+v", r)
		}
	}
	wants := []want{
		{"aws-iam-no-users", "aws_iam_user.deployer", "testdata/plan.json", 58},
		{"test-bucket-versioning", "module.storage.aws_s3_bucket_versioning.logs", "testdata/plan.json", 117},
		{"test-bucket-versioning", "RecordsBucket/versioning", "testdata/template.json", 24},
		{"test-rds-encrypted", "Database", "testdata/template.json", 33},
		{"test-open-ssh", "AppSecurityGroup", "testdata/template.json", 45},
		{"aws-iam-no-users", "Deployer", "testdata/template.yaml", 9},
		{"test-open-ssh", "OpenSsh", "testdata/template.yaml", 50},
	}
	if len(got) != len(wants) {
		t.Fatalf("results:\n%+v\nwant:\n%+v", got, wants)
	}
	for i := range wants {
		if got[i] != wants[i] {
			t.Errorf("result %d: %+v, want %+v", i, got[i], wants[i])
		}
	}
	if rep.AtLeast(controls.High) != 4 || rep.AtLeast(controls.Critical) != 2 || rep.AtLeast(controls.Informational) != 7 {
		t.Errorf("counts: %v", rep.Count())
	}
	if len(rep.Files) != 4 || rep.Resources != 22 || len(rep.Controls) != 4 {
		t.Errorf("files %v, %d resources, %d controls", rep.Files, rep.Resources, len(rep.Controls))
	}
}

func TestScanFileError(t *testing.T) {
	t.Parallel()
	_, err := Scan(context.Background(), testEngine(t), []File{{Name: "notes.txt", Data: []byte("hello: world\n")}})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("notes.txt")) {
		t.Fatalf("error %v, want one naming the file", err)
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -run %s -update rewrites it); got:\n%s", name, t.Name(), got)
	}
}

func TestScanOutputGolden(t *testing.T) {
	rep := scanTestdata(t)
	for _, tc := range []struct {
		name  string
		write func(*bytes.Buffer) error
	}{
		{"scan.text.golden", func(b *bytes.Buffer) error { return WriteText(b, rep, DefaultMaxPerControl) }},
		{"scan.json.golden", func(b *bytes.Buffer) error { return WriteJSON(b, rep) }},
		{"scan.sarif.golden", func(b *bytes.Buffer) error { return WriteSARIF(b, rep, "test") }},
	} {
		var b bytes.Buffer
		if err := tc.write(&b); err != nil {
			t.Fatal(err)
		}
		golden(t, tc.name, b.Bytes())
	}
}

// The SARIF log holds what code scanning services require of one.
func TestScanSARIFStructure(t *testing.T) {
	t.Parallel()
	rep := scanTestdata(t)
	var b bytes.Buffer
	if err := WriteSARIF(&b, rep, "test"); err != nil {
		t.Fatal(err)
	}
	var log struct {
		Schema  string `json:"$schema"`
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name           string `json:"name"`
					InformationURI string `json:"informationUri"`
					Rules          []struct {
						ID               string         `json:"id"`
						Name             string         `json:"name"`
						ShortDescription map[string]any `json:"shortDescription"`
						FullDescription  map[string]any `json:"fullDescription"`
						Help             map[string]any `json:"help"`
						Properties       struct {
							SecuritySeverity string   `json:"security-severity"`
							Tags             []string `json:"tags"`
						} `json:"properties"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID    string `json:"ruleId"`
				RuleIndex int    `json:"ruleIndex"`
				Level     string `json:"level"`
				Message   struct {
					Text string `json:"text"`
				} `json:"message"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct {
							URI string `json:"uri"`
						} `json:"artifactLocation"`
						Region struct {
							StartLine int `json:"startLine"`
						} `json:"region"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(b.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	if log.Version != "2.1.0" || log.Schema != "https://json.schemastore.org/sarif-2.1.0.json" || len(log.Runs) != 1 {
		t.Fatalf("version %q, schema %q, %d runs", log.Version, log.Schema, len(log.Runs))
	}
	d := log.Runs[0].Tool.Driver
	if d.Name != "hatoba" || d.InformationURI == "" || len(d.Rules) != len(rep.Controls) {
		t.Fatalf("driver %q %q with %d rules", d.Name, d.InformationURI, len(d.Rules))
	}
	scores := map[string]bool{"9.5": true, "8.0": true, "5.5": true, "3.0": true, "0.0": true}
	for _, r := range d.Rules {
		if r.ID == "" || r.Name == "" || r.ShortDescription["text"] == "" || r.FullDescription["text"] == "" || r.Help["text"] == "" ||
			!scores[r.Properties.SecuritySeverity] || len(r.Properties.Tags) < 2 {
			t.Errorf("rule %+v is incomplete", r)
		}
	}
	levels := map[controls.Severity]string{controls.Critical: "error", controls.High: "error", controls.Medium: "warning", controls.Low: "note"}
	if len(log.Runs[0].Results) != len(rep.Results) {
		t.Fatalf("%d results, want %d", len(log.Runs[0].Results), len(rep.Results))
	}
	for i, r := range log.Runs[0].Results {
		if r.RuleIndex < 0 || r.RuleIndex >= len(d.Rules) || d.Rules[r.RuleIndex].ID != r.RuleID {
			t.Errorf("result %d: ruleIndex %d does not point at rule %s", i, r.RuleIndex, r.RuleID)
		}
		if r.Level != levels[rep.Results[i].Severity] || r.Message.Text == "" || len(r.Locations) != 1 {
			t.Errorf("result %d: %+v", i, r)
		}
		loc := r.Locations[0].PhysicalLocation
		if filepath.IsAbs(loc.ArtifactLocation.URI) || loc.ArtifactLocation.URI != rep.Results[i].File || loc.Region.StartLine < 1 {
			t.Errorf("result %d: location %+v", i, loc)
		}
	}
}

// A file streamed from Open reads as the same file given as Data: plans
// (streamed), templates and what is neither (read whole after the stream
// finds no plan), with the same lines and errors.
func TestScanStreamedFilesReadTheSame(t *testing.T) {
	t.Parallel()
	names := []string{"plan.json", "template.json", "template.yaml", "clean.yaml", "tf-provider-blocks.json",
		"tf-s3-inline.json", "tf-planned-values-only.json", "cfn-params.yaml"}
	var whole, streamed []File
	for _, name := range names {
		f := readTestdata(t, name)
		whole = append(whole, f)
		streamed = append(streamed, File{Name: f.Name, Open: reader(f.Data)})
	}
	e := testEngine(t)
	a, err := Scan(context.Background(), e, whole)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Scan(context.Background(), e, streamed)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("streamed:\n%+v\nwhole:\n%+v", b.Results, a.Results)
	}
	for _, bad := range []string{"", "{", `{"a": 1}`, "apiVersion: v1\n", `{"format_version": "1.2", "resource_changes": [1]}`, "[1]"} {
		_, errWhole := Scan(context.Background(), e, []File{{Name: "x.json", Data: []byte(bad)}})
		_, errStream := Scan(context.Background(), e, []File{{Name: "x.json", Open: reader([]byte(bad))}})
		if errWhole == nil || errStream == nil || fault.KindOf(errStream) != fault.Invalid || !strings.Contains(errStream.Error(), "x.json") {
			t.Errorf("%q: whole %v, streamed %v", bad, errWhole, errStream)
		}
	}
}

// Text output lists at most maxPerControl results of a control and counts
// the rest by message; JSON and SARIF keep every result.
func TestScanTextSummarises(t *testing.T) {
	t.Parallel()
	rep := scanTestdata(t)
	var b bytes.Buffer
	if err := WriteText(&b, rep, 1); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"HIGH           aws-iam-no-users  aws_iam_user.deployer  testdata/plan.json:58  ",
		"MEDIUM         test-bucket-versioning  1 more violation  versioning is Suspended\n",
		"CRITICAL       test-open-ssh  1 more violation  SSH is open to the internet\n",
		"HIGH           aws-iam-no-users  1 more violation  IAM user \"…\" exists; people sign in through the identity center\n",
		"(at most 1 violations listed per control)\n7 violations in 4 files",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "OpenSsh") || strings.Count(out, "\n") != 4+3+1+1 {
		t.Errorf("text output:\n%s", out)
	}
	b.Reset()
	if err := WriteText(&b, rep, 0); err != nil {
		t.Fatal(err)
	}
	if strings.Count(b.String(), "\n") != len(rep.Results)+1 {
		t.Errorf("0 lists all:\n%s", b.String())
	}
}
