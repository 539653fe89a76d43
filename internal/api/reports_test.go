package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

func TestCoverageReport(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite)
	if _, err := h.api.Assignments.Assign(context.Background(), authz.Principal{PersonID: "p-seed"}, "aws-iam-no-users", "nat-digital"); err != nil {
		t.Fatal(err)
	}
	_, member := h.person(t, authz.TenantMember, "nat-digital")
	as := map[string]string{"Authorization": "Bearer " + member}
	tests := []struct {
		name, query string
		status      int
		want        []string
		controls    float64 // -1: do not check
	}{
		{"ok/nist", "?framework=nist-800-53", 200, []string{`"complete": true`, `"id": "AC-1"`, `"percent": `}, -1},
		{"ok/csf", "?framework=nist-csf", 200, []string{`"id": "GV.OC-01"`, `"requirements": 106`}, -1},
		{"ok/cis mapped ids only", "?framework=cis", 200, []string{`"complete": false`, "mapped ids only", `"percent": null`}, -1},
		{"ok/ismap: every mapping unverified", "?framework=ismap", 200, []string{`"complete": false`, `"verified": false`, `"unverified": `}, -1},
		{"ok/oscal component definition", "?framework=nist-800-53&format=oscal", 200,
			[]string{`"component-definition"`, `"oscal-version": "1.1.2"`, `"control-id": "ac-2"`, `"hatoba-control"`}, -1},
		{"ok/oscal ismap marked unverified", "?framework=ismap&format=oscal", 200, []string{`"control-id": "ismap-9.2.1"`, `"value": "unverified"`}, -1},
		{"fail/bad format", "?framework=cis&format=xml", 422, []string{"format is json"}, -1},
		{"ok/assigned only", "?framework=nist-800-53&scope=assigned", 200, []string{`"scope": "assigned"`, `"aws-iam-no-users"`}, 1},
		{"fail/no framework", "", 422, []string{"framework is one of"}, -1},
		{"fail/unknown framework", "?framework=iso-27001", 422, []string{"iso-27001"}, -1},
		{"fail/bad scope", "?framework=cis&scope=mine", 422, []string{"scope is catalog"}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.call(t, "GET", "/api/v1/reports/coverage"+tt.query, "", as)
			if r.status != tt.status {
				t.Fatalf("%d %s", r.status, r.raw)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.raw, w) {
					t.Errorf("no %s in %.600s", w, r.raw)
				}
			}
			if tt.controls >= 0 && r.body["controls"] != tt.controls {
				t.Errorf("controls %v, want %v", r.body["controls"], tt.controls)
			}
		})
	}
}

func TestPostureReportAndOSCAL(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite)
	ids := map[string]string{}
	for _, orgID := range []string{"nat-digital", "qp-small"} {
		en := h.call(t, "POST", "/api/v1/environments", strings.Replace(goodRequest, "nat-digital", orgID, 1), nil)
		if en.status != http.StatusCreated {
			t.Fatalf("seed: %d %s", en.status, en.raw)
		}
		ids[orgID] = en.body["id"].(string)
	}
	if _, err := h.api.Posture.Record(context.Background(), ids["nat-digital"], "nat-digital", []controls.Resource{
		{Provider: "aws", Type: "aws_iam_user", ID: "arn:aws:iam::1:user/alice", Config: map[string]any{"name": "alice"}},
		{Provider: "aws", Type: "aws_iam_user", ID: "arn:aws:iam::1:user/bob", Config: map[string]any{"name": "bob"}},
	}); err != nil {
		t.Fatal(err)
	}
	_, member := h.person(t, authz.TenantMember, "nat-digital")
	as := map[string]string{"Authorization": "Bearer " + member}
	env := ids["nat-digital"]
	tests := []struct {
		name, path string
		status     int
		want       []string
	}{
		{"ok/organisation report", "/api/v1/organizations/nat-digital/report", 200,
			[]string{`"kind": "organisation"`, `"open_findings": 2`, `"control_id": "aws-iam-no-users"`, `"env_id": "` + env + `"`}},
		{"ok/environment OSCAL", "/api/v1/environments/" + env + "/oscal", 200,
			[]string{`"oscal-version": "1.1.2"`, `"state": "not-satisfied"`, `"methods": [`, `"target-id": "ac-2_obj"`, `"type": "objective-id"`, `"back-matter"`, `"arn:aws:iam::1:user/bob"`}},
		{"ok/organisation OSCAL", "/api/v1/organizations/nat-digital/oscal", 200, []string{`"import-ap"`, `"control-id": "ac-2"`}},
		{"ok/foreign organisation is not found", "/api/v1/organizations/qp-small/report", 404, []string{"no organisation"}},
		{"ok/foreign environment is not found", "/api/v1/environments/" + ids["qp-small"] + "/oscal", 404, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.call(t, "GET", tt.path, "", as)
			if r.status != tt.status {
				t.Fatalf("%d %s", r.status, r.raw)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.raw, w) {
					t.Errorf("no %s in %.800s", w, r.raw)
				}
			}
		})
	}
	// Two open findings become two OSCAL findings, each with its observation.
	r := h.call(t, "GET", "/api/v1/environments/"+env+"/oscal", "", as)
	var doc struct {
		AR struct {
			Results []struct {
				Findings     []json.RawMessage `json:"findings"`
				Observations []json.RawMessage `json:"observations"`
			} `json:"results"`
		} `json:"assessment-results"`
	}
	if err := json.Unmarshal([]byte(r.raw), &doc); err != nil || len(doc.AR.Results) != 1 ||
		len(doc.AR.Results[0].Findings) != 2 || len(doc.AR.Results[0].Observations) != 2 {
		t.Fatalf("OSCAL: %v %.800s", err, r.raw)
	}
}

const (
	customPolicy = "package hatoba.controls.custom_no_admin\n\nimport data.hatoba.lib\nimport rego.v1\n\ndeny contains f if {\n\tsome r in lib.of_type(\"aws_iam_user\")\n\tobject.get(r.config, \"name\", \"\") == \"admin\"\n\tf := lib.finding(r, \"IAM user admin is a shared account\")\n}\n"
	customTests  = "package hatoba.controls.custom_no_admin_test\n\nimport data.hatoba.controls.custom_no_admin as c\nimport rego.v1\n\ntest_admin_is_denied if {\n\tcount(c.deny) == 1 with input as {\"hatoba_resources\": [{\"type\": \"aws_iam_user\", \"id\": \"u1\", \"config\": {\"name\": \"admin\"}}]}\n}\n"
	customMeta   = "id: custom-no-admin\ntitle: {ja: 管理者ユーザーなし, en: No admin user}\ndescription: {ja: 共有アカウントを避ける, en: No shared accounts}\nseverity: medium\nkinds: [detective]\nresource_types: [aws_iam_user]\nremediation: {ja: 消す, en: Delete it}\nframeworks: {nist_800_53: [AC-2]}\n"
)

func customBody(t *testing.T, meta any, policy, tests string) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"metadata": meta, "policy": policy, "tests": tests})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCustomControlsAPI(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite)
	jsonMeta := map[string]any{"id": "custom-no-admin", "title": map[string]string{"ja": "管理者ユーザーなし", "en": "No admin user"},
		"description": map[string]string{"ja": "共有アカウントを避ける", "en": "No shared accounts"}, "severity": "medium",
		"kinds": []string{"detective"}, "resource_types": []string{"aws_iam_user"}, "remediation": map[string]string{"ja": "消す", "en": "Delete it"},
		"frameworks": map[string]any{"nist_800_53": []string{"AC-2"}}}
	_, admin := h.person(t, authz.TenantAdmin, "nat-digital")
	tests := []struct {
		name   string
		body   string
		header map[string]string
		status int
		want   string
	}{
		{"fail/tenant administrator", customBody(t, customMeta, customPolicy, customTests), map[string]string{"Authorization": "Bearer " + admin}, 403, "may not"},
		{"fail/does not parse", customBody(t, customMeta, strings.Replace(customPolicy, "if {", "if {{", 1), customTests), nil, 422, "rego_parse_error"},
		{"fail/test fails", customBody(t, customMeta, customPolicy, strings.Replace(customTests, "== 1", "== 2", 1)), nil, 422, "test_admin_is_denied"},
		{"fail/built-in id", customBody(t, strings.ReplaceAll(customMeta, "custom-no-admin", "aws-iam-no-users"),
			strings.Replace(customPolicy, "custom_no_admin", "aws_iam_no_users", 1), customTests), nil, 409, "built-in"},
		{"fail/unknown metadata field", customBody(t, customMeta+"colour: red\n", customPolicy, customTests), nil, 422, "colour"},
		{"fail/no metadata", customBody(t, nil, customPolicy, customTests), nil, 422, "metadata is required"},
		{"ok/metadata as a JSON object", customBody(t, jsonMeta, customPolicy, customTests), nil, 201, `"pass": true`},
		{"fail/added twice", customBody(t, customMeta, customPolicy, customTests), nil, 409, "exists already"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.call(t, "POST", "/api/v1/controls", tt.body, tt.header)
			if r.status != tt.status || !strings.Contains(r.raw, tt.want) {
				t.Fatalf("%d %s, want %d naming %q", r.status, r.raw, tt.status, tt.want)
			}
		})
	}
	// The new control is in the catalog and evaluated at once.
	if r := h.call(t, "GET", "/api/v1/controls/custom-no-admin", "", nil); r.status != 200 || r.body["builtin"] != false {
		t.Fatalf("get: %d %s", r.status, r.raw)
	}
	en := h.call(t, "POST", "/api/v1/environments", goodRequest, nil)
	if en.status != http.StatusCreated {
		t.Fatalf("seed: %d %s", en.status, en.raw)
	}
	envID := en.body["id"].(string)
	if _, err := h.api.Posture.Record(context.Background(), envID, "nat-digital", []controls.Resource{
		{Provider: "aws", Type: "aws_iam_user", ID: "arn:aws:iam::1:user/admin", Config: map[string]any{"name": "admin"}},
	}); err != nil {
		t.Fatal(err)
	}
	if r := h.call(t, "GET", "/api/v1/environments/"+envID+"/findings", "", nil); !strings.Contains(r.raw, `"control_id": "custom-no-admin"`) {
		t.Fatalf("the custom control found nothing: %s", r.raw)
	}
	if r := h.call(t, "DELETE", "/api/v1/controls/aws-iam-no-users", "", nil); r.status != 409 {
		t.Errorf("delete a built-in: %d %s", r.status, r.raw)
	}
	if r := h.call(t, "DELETE", "/api/v1/controls/custom-no-admin", "", nil); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.raw)
	}
	if r := h.call(t, "GET", "/api/v1/controls/custom-no-admin", "", nil); r.status != 404 {
		t.Errorf("deleted control: %d %s", r.status, r.raw)
	}
}
