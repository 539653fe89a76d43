package reports

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/posture"
)

// NIST's OSCAL 1.1.2 JSON schema of every model (oscal_complete_schema.json;
// public domain, a work of the US government): NIST's build committed to
// usnistgov/OSCAL (testdata/oscal/SOURCE.md), or the v1.1.2 release asset.
// The digests pin them, so no other file can pass for either.
const oscalSchemaFile = "oscal_complete_schema.json"

var oscalSchemaSHA256 = map[string]string{
	"6b6c2f78580f5b3dc93cab9f3d15770f31eed3bf395275f1c1bcd6049a806902": "NIST's build at usnistgov/OSCAL c746a974f",
	"f0b24aef59190cb2649b404976f1677b546e6bb1982597d8bccb9e6b1244e18c": "the v1.1.2 release asset",
}

// oscalSchemaPaths are where the tests look for the schema: beside the
// tests, then in shared/data/oscal beside the repository (where NIST's
// other OSCAL files are kept). HATOBA_OSCAL_SCHEMA names another file,
// which is then used whatever its digest (a schema built from NIST's
// metaschema sources, say), with a note in the log.
var oscalSchemaPaths = []string{
	filepath.Join("testdata", "oscal", oscalSchemaFile),
	filepath.Join("..", "..", "..", "shared", "data", "oscal", oscalSchemaFile),
}

var oscalSchema = sync.OnceValues(func() (*jsonschema.Schema, string) {
	path, pinned := os.Getenv("HATOBA_OSCAL_SCHEMA"), false
	if path == "" {
		for _, p := range oscalSchemaPaths {
			if _, err := os.Stat(p); err == nil {
				path, pinned = p, true
				break
			}
		}
	}
	if path == "" {
		return nil, "NIST's OSCAL 1.1.2 " + oscalSchemaFile + " is in none of " +
			strings.Join(oscalSchemaPaths, ", ") + "; set HATOBA_OSCAL_SCHEMA to use another copy"
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err.Error()
	}
	note := "validating against " + path
	sum := sha256.Sum256(b)
	if which, ok := oscalSchemaSHA256[hex.EncodeToString(sum[:])]; ok {
		note += " (" + which + ")"
	} else {
		if pinned {
			panic(path + " is not NIST's OSCAL 1.1.2 schema: SHA-256 " + hex.EncodeToString(sum[:]))
		}
		note += " (a digest of neither NIST file: " + hex.EncodeToString(sum[:]) + ")"
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		panic(err)
	}
	refSiblings(doc)
	// The schema's anchors ("$id": "#assembly_…") resolve against its own
	// $id, so it is added under that URL.
	id, _ := doc.(map[string]any)["$id"].(string)
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(id, doc); err != nil {
		panic(err)
	}
	s, err := c.Compile(id)
	if err != nil {
		panic(err)
	}
	return s, note
})

// refSiblings rewrites {"$id": "#x", "$ref": "#y"} as {"$id": "#x",
// "allOf": [{"$ref": "#y"}]}, which means the same. NIST's generator gives
// many definitions an anchor beside a $ref; draft-07 ignores a $ref's
// siblings, the anchor included, so a strict draft-07 validator cannot
// find "#json-schema-directive" or "#field_…" without this. Nothing else
// of the schema is touched.
func refSiblings(v any) {
	switch v := v.(type) {
	case map[string]any:
		if ref, ok := v["$ref"]; ok {
			if _, anchored := v["$id"]; anchored {
				delete(v, "$ref")
				v["allOf"] = []any{map[string]any{"$ref": ref}}
			}
		}
		for _, child := range v {
			refSiblings(child)
		}
	case []any:
		for _, child := range v {
			refSiblings(child)
		}
	}
}

// validateOSCALSchema checks a document against NIST's OSCAL 1.1.2 JSON
// schema, which is committed beside the tests: without it the test fails.
func validateOSCALSchema(t *testing.T, raw []byte) {
	t.Helper()
	s, note := oscalSchema()
	if s == nil {
		t.Fatal(note)
	}
	t.Log(note)
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(v); err != nil {
		t.Errorf("not valid OSCAL 1.1.2: %v\n%s", err, raw)
	}
}

// Every OSCAL document hatoba makes — assessment results of an
// environment or organisation, and the coverage of each framework as a
// component definition — is valid against NIST's schema.
func TestOSCALDocumentsAgainstNISTSchema(t *testing.T) {
	t.Parallel()
	builtin, err := controls.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	byID := func(id string) (controls.Control, bool) {
		for _, c := range builtin {
			if c.ID == id {
				return c, true
			}
		}
		return controls.Control{}, false
	}
	var findings []posture.Finding
	for i, c := range builtin {
		if c.Has(controls.Detective) && i%3 == 0 {
			findings = append(findings, finding("env-a", c.ID, "arn:aws:s3:::bucket-"+c.ID, c.Severity))
		}
	}
	findings = append(findings, finding("env-b", "a-deleted-custom-control", "r9", controls.Low))
	docs := map[string]any{
		"assessment-results/environment": OSCAL(OSCALInput{Scope: "environment env-a", ScopeID: "env-a", Version: "1.0.0",
			Start: t0, End: t0.Add(time.Hour), Controls: builtin, Findings: findings, Lookup: byID}),
		"assessment-results/nothing open": OSCAL(OSCALInput{Scope: "organisation nat-digital", ScopeID: "nat-digital", End: t0, Controls: builtin}),
		"assessment-results/sample": OSCAL(OSCALInput{Scope: "environment env-a", ScopeID: "env-a", Version: "test", Start: t0, End: t0.Add(2 * time.Hour),
			Controls: sample, Findings: []posture.Finding{finding("env-a", "c-one", "r1", controls.High), finding("env-a", "gone", "r1", controls.Low)}}),
	}
	for _, f := range Frameworks {
		for _, scope := range []Scope{Catalog, Assigned} {
			cs := builtin
			if scope == Assigned {
				cs = AssignedOnly(builtin, []string{builtin[0].ID, builtin[5].ID})
			}
			cov, err := CoverageOf(f, scope, cs)
			if err != nil {
				t.Fatal(err)
			}
			docs["component-definition/"+string(f)+"/"+string(scope)] = ComponentDefinitionOf(cov, "1.0.0", t0)
		}
	}
	cov, _ := CoverageOf(NIST80053, Catalog, nil)
	docs["component-definition/nothing covered"] = ComponentDefinitionOf(cov, "", t0)
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			raw, err := json.Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(name, "assessment-results/") {
				validateAssessmentResults(t, raw) // references and ids, which the schema does not check
			}
			validateOSCALSchema(t, raw)
		})
	}
}

// The schema check itself refuses what it should: the defects issue 17
// found would not pass it.
func TestOSCALSchemaRefuses(t *testing.T) {
	t.Parallel()
	if s, note := oscalSchema(); s == nil {
		t.Fatal(note)
	}
	s, _ := oscalSchema()
	doc := OSCAL(OSCALInput{Scope: "environment env-a", ScopeID: "env-a", Version: "test", End: t0, Controls: sample,
		Findings: []posture.Finding{finding("env-a", "c-one", "r1", controls.High)}})
	for _, tt := range []struct {
		name   string
		change func(*AssessmentResultsDocument)
	}{
		{"fail/target type control-id", func(d *AssessmentResultsDocument) {
			d.AssessmentResults.Results[0].Findings[0].Target.Type = "control-id"
		}},
		{"fail/no result start", func(d *AssessmentResultsDocument) { d.AssessmentResults.Results[0].Start = "" }},
		{"fail/target state", func(d *AssessmentResultsDocument) {
			d.AssessmentResults.Results[0].Findings[0].Target.Status.State = "failed"
		}},
		{"fail/control-id not a token", func(d *AssessmentResultsDocument) {
			d.AssessmentResults.Results[0].Findings[0].Target.TargetID = "10.1.1"
		}},
		{"fail/uuid", func(d *AssessmentResultsDocument) { d.AssessmentResults.UUID = "not-a-uuid" }},
	} {
		d := doc
		d.AssessmentResults.Results = []Result{doc.AssessmentResults.Results[0]}
		r := &d.AssessmentResults.Results[0]
		r.Findings = append([]Finding(nil), r.Findings...)
		r.Observations = append([]Observation(nil), r.Observations...)
		tt.change(&d)
		raw, _ := json.Marshal(d)
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		if s.Validate(v) == nil {
			t.Errorf("%s: the schema accepted it", tt.name)
		}
	}
}
