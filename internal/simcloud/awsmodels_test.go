package simcloud

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// AWS's published service models (botocore's service-2.json), trimmed to
// the operations the simulated cloud implements and the shapes they
// reach, without documentation, live in testdata/awsmodels (SOURCE.md
// names their origin, commit and licence). The fidelity tests hold the
// simulated cloud to them.

// modelFiles maps each simulated service to its botocore model.
var modelFiles = []struct {
	file    string // under testdata/awsmodels and botocore/data
	service string // the X-Amz-Target prefix, or "account" for the REST API
}{
	{"organizations/2016-11-28/service-2.json", "AWSOrganizationsV20161128"},
	{"sso-admin/2020-07-20/service-2.json", "SWBExternalService"},
	{"identitystore/2020-06-15/service-2.json", "AWSIdentityStore"},
	{"kms/2014-11-01/service-2.json", "TrentService"},
	{"config/2014-11-12/service-2.json", "StarlingDoveService"},
	{"account/2021-02-01/service-2.json", "account"},
}

// accountOps are the Account API's operations, which the REST router
// serves rather than an operation map.
var accountOps = []string{"PutAlternateContact", "GetAlternateContact"}

func implementedOps(service string) []string {
	if service == "account" {
		return slices.Clone(accountOps)
	}
	return slices.Sorted(maps.Keys(services[service].ops))
}

// awsModel is the part of a botocore model the fidelity tests read.
type awsModel struct {
	Metadata   map[string]any          `json:"metadata"`
	Operations map[string]awsOperation `json:"operations"`
	Shapes     map[string]*awsShape    `json:"shapes"`
}

type awsOperation struct {
	Name   string `json:"name"`
	HTTP   struct {
		Method     string `json:"method"`
		RequestURI string `json:"requestUri"`
	} `json:"http"`
	Input  *shapeRef  `json:"input,omitempty"`
	Output *shapeRef  `json:"output,omitempty"`
	Errors []shapeRef `json:"errors,omitempty"`
}

type shapeRef struct {
	Shape        string `json:"shape"`
	Location     string `json:"location,omitempty"`
	LocationName string `json:"locationName,omitempty"`
}

type awsShape struct {
	Type      string              `json:"type"`
	Required  []string            `json:"required,omitempty"`
	Members   map[string]shapeRef `json:"members,omitempty"`
	Member    *shapeRef           `json:"member,omitempty"`
	Key       *shapeRef           `json:"key,omitempty"`
	Value     *shapeRef           `json:"value,omitempty"`
	Enum      []string            `json:"enum,omitempty"`
	Pattern   string              `json:"pattern,omitempty"`
	Min       *float64            `json:"min,omitempty"`
	Max       *float64            `json:"max,omitempty"`
	Exception bool                `json:"exception,omitempty"`
	Fault     bool                `json:"fault,omitempty"`
	Error     *struct {
		Code           string `json:"code,omitempty"`
		HTTPStatusCode int    `json:"httpStatusCode,omitempty"`
		SenderFault    bool   `json:"senderFault,omitempty"`
	} `json:"error,omitempty"`
	Union     bool `json:"union,omitempty"`
	Document  bool `json:"document,omitempty"`
	Sensitive bool `json:"sensitive,omitempty"`
}

func loadModel(t testing.TB, file string) *awsModel {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "awsmodels", file))
	if err != nil {
		t.Fatalf("AWS model %s: %v (see testdata/awsmodels/SOURCE.md)", file, err)
	}
	var m awsModel
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("AWS model %s: %v", file, err)
	}
	return &m
}

// TestTrimAWSModels rewrites testdata/awsmodels from botocore's data
// directory when HATOBA_AWSMODELS_SOURCE names it (botocore/data of a
// checkout of github.com/boto/botocore): the operations implemented and
// the shapes they reach, nothing else. Run it after implementing a new
// operation, and record the commit in SOURCE.md.
func TestTrimAWSModels(t *testing.T) {
	src := os.Getenv("HATOBA_AWSMODELS_SOURCE")
	if src == "" {
		t.Skip("HATOBA_AWSMODELS_SOURCE is not set; the committed models are used as they are")
	}
	for _, mf := range modelFiles {
		b, err := os.ReadFile(filepath.Join(src, mf.file))
		if err != nil {
			t.Fatal(err)
		}
		var full struct {
			Metadata   map[string]any            `json:"metadata"`
			Operations map[string]map[string]any `json:"operations"`
			Shapes     map[string]map[string]any `json:"shapes"`
		}
		if err := json.Unmarshal(b, &full); err != nil {
			t.Fatal(err)
		}
		out := map[string]any{"metadata": full.Metadata}
		ops := map[string]any{}
		shapes := map[string]any{}
		var reach func(name string)
		reach = func(name string) {
			if _, done := shapes[name]; done {
				return
			}
			sh, ok := full.Shapes[name]
			if !ok {
				t.Fatalf("%s: shape %s missing", mf.file, name)
			}
			sh = stripDocs(sh).(map[string]any)
			shapes[name] = sh
			for _, key := range []string{"member", "key", "value"} {
				if ref, ok := sh[key].(map[string]any); ok {
					reach(ref["shape"].(string))
				}
			}
			if members, ok := sh["members"].(map[string]any); ok {
				for _, ref := range members {
					reach(ref.(map[string]any)["shape"].(string))
				}
			}
		}
		for _, name := range implementedOps(mf.service) {
			op, ok := full.Operations[name]
			if !ok {
				t.Fatalf("%s has no operation %s", mf.file, name)
			}
			op = stripDocs(op).(map[string]any)
			ops[name] = op
			for _, key := range []string{"input", "output"} {
				if ref, ok := op[key].(map[string]any); ok {
					reach(ref["shape"].(string))
				}
			}
			if errs, ok := op["errors"].([]any); ok {
				for _, e := range errs {
					reach(e.(map[string]any)["shape"].(string))
				}
			}
		}
		out["operations"], out["shapes"] = ops, shapes
		enc, err := json.MarshalIndent(out, "", " ")
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join("testdata", "awsmodels", mf.file)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, append(enc, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		fmt.Printf("%s: %d operations, %d shapes\n", mf.file, len(ops), len(shapes))
	}
}

// stripDocs drops documentation, examples and deprecation notes, which
// the tests do not read and which make up most of a model.
func stripDocs(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range v {
			switch k {
			case "documentation", "documentationUrl", "deprecatedMessage", "examples":
				continue
			}
			out[k] = stripDocs(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = stripDocs(e)
		}
		return out
	}
	return v
}
