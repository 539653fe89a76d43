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
// reach, without documentation, live in awsmodels (SOURCE.md
// names their origin, commit and licence). The fidelity tests hold the
// simulated cloud to them.

// trimmedModels maps each simulated service to its botocore model.
var trimmedModels = []struct {
	file    string // under awsmodels and botocore/data
	service string // the X-Amz-Target prefix, or "account" for the REST API
}{
	{"organizations/2016-11-28/service-2.json", "AWSOrganizationsV20161128"},
	{"sso-admin/2020-07-20/service-2.json", "SWBExternalService"},
	{"identitystore/2020-06-15/service-2.json", "AWSIdentityStore"},
	{"kms/2014-11-01/service-2.json", "TrentService"},
	{"config/2014-11-12/service-2.json", "StarlingDoveService"},
	{"account/2021-02-01/service-2.json", "account"},
	{"cloudformation/2010-05-15/service-2.json", "cloudformation"},
}

// accountOps are the Account API's operations, which the REST router
// serves rather than an operation map.
var accountOps = []string{"PutAlternateContact", "GetAlternateContact"}

func implementedOps(service string) []string {
	if service == "account" {
		return slices.Sorted(slices.Values(accountOps))
	}
	if service == "cloudformation" {
		return slices.Sorted(maps.Keys(cloudformationOps))
	}
	return slices.Sorted(maps.Keys(services[service].ops))
}

// TestModelsMatchImplementation: the embedded models hold exactly the
// operations implemented, so every request is validated and a new
// operation cannot be added without its model.
func TestModelsMatchImplementation(t *testing.T) {
	t.Parallel()
	ms, err := loadModels()
	if err != nil {
		t.Fatal(err)
	}
	signing := map[string]string{"AWSOrganizationsV20161128": "organizations", "SWBExternalService": "sso", "AWSIdentityStore": "identitystore",
		"TrentService": "kms", "StarlingDoveService": "config", "account": "account", "cloudformation": "cloudformation"}
	for _, mf := range trimmedModels {
		m := ms[signing[mf.service]]
		if m == nil {
			t.Fatalf("no model for %s", mf.service)
		}
		got := slices.Sorted(maps.Keys(m.Operations))
		if want := implementedOps(mf.service); !slices.Equal(got, want) {
			t.Errorf("%s: the model has %v, the simulated cloud implements %v; run TestTrimAWSModels", mf.file, got, want)
		}
	}
}

// TestTrimAWSModels rewrites awsmodels from botocore's data
// directory when HATOBA_AWSMODELS_SOURCE names it (botocore/data of a
// checkout of github.com/boto/botocore): the operations implemented and
// the shapes they reach, nothing else. Run it after implementing a new
// operation, and record the commit in SOURCE.md.
func TestTrimAWSModels(t *testing.T) {
	src := os.Getenv("HATOBA_AWSMODELS_SOURCE")
	if src == "" {
		t.Skip("HATOBA_AWSMODELS_SOURCE is not set; the committed models are used as they are")
	}
	for _, mf := range trimmedModels {
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
		dst := filepath.Join("awsmodels", mf.file)
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
