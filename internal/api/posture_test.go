package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/api"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

func TestEnvironmentFindings(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite)
	en := h.call(t, "POST", "/api/v1/environments", goodRequest, nil)
	if en.status != http.StatusCreated {
		t.Fatalf("seed: %d %s", en.status, en.raw)
	}
	id := en.body["id"].(string)
	if _, err := h.api.Posture.Record(context.Background(), id, "nat-digital", []controls.Resource{
		{Provider: "aws", Type: "aws_iam_user", ID: "arn:aws:iam::1:user/alice", Config: map[string]any{"name": "alice"}},
	}); err != nil {
		t.Fatal(err)
	}
	_, member := h.person(t, authz.TenantMember, "nat-digital")
	as := map[string]string{"Authorization": "Bearer " + member}
	tests := []struct {
		name, query string
		status      int
		want        string
	}{
		{"open findings", "", 200, `"control_id": "aws-iam-no-users"`},
		{"as OCSF", "?format=ocsf", 200, `"class_uid": 2003`},
		{"all", "?status=all", 200, `"status": "open"`},
		{"bad status", "?status=closed", 400, "status must be one of open, all"},
		{"bad format", "?format=xml", 400, "format must be one of json, ocsf"},
	}
	for _, tt := range tests {
		r := h.call(t, "GET", "/api/v1/environments/"+id+"/findings"+tt.query, "", as)
		if r.status != tt.status || !strings.Contains(r.raw, tt.want) {
			t.Errorf("%s: %d %s", tt.name, r.status, r.raw)
		}
	}
	if r := h.call(t, "GET", "/api/v1/environments/"+id+"/posture", "", as); r.status != 200 || r.body["failed"] != float64(1) {
		t.Errorf("posture: %d %s", r.status, r.raw)
	}
	if r := h.call(t, "GET", "/api/v1/organizations/nat-digital/posture", "", as); r.status != 200 || r.body["environments"] != float64(1) {
		t.Errorf("org posture: %d %s", r.status, r.raw)
	}
}

// A pipeline sends its plan and learns whether it passes; SARIF on ask.
func TestScanEndpoint(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite)
	_, member := h.person(t, authz.TenantMember, "nat-digital")
	as := map[string]string{"Authorization": "Bearer " + member}
	template := `{"files":[{"name":"t.yaml","content":"Resources:\n  U:\n    Type: AWS::IAM::User\n"}]%s}`
	tests := []struct {
		name, query, extra string
		status             int
		want               string
	}{
		{"fails at high", "", "", 200, `"passed": false`},
		{"passes when only critical counts", "", `,"fail_on":"critical"`, 200, `"passed": true`},
		{"SARIF", "?format=sarif", "", 200, `"version": "2.1.0"`},
		{"bad severity", "", `,"fail_on":"severe"`, 422, "fail_on is a severity"},
		{"bad format", "?format=xml", "", 422, "format is json"},
	}
	for _, tt := range tests {
		r := h.call(t, "POST", "/api/v1/scan"+tt.query, fmt.Sprintf(template, tt.extra), as)
		if r.status != tt.status || !strings.Contains(r.raw, tt.want) {
			t.Errorf("%s: %d %s", tt.name, r.status, r.raw)
		}
	}
	if r := h.call(t, "POST", "/api/v1/scan", `{"files":[{"name":"x.json","content":"{}"}]}`, as); r.status != 422 {
		t.Errorf("not infrastructure code: %d %s", r.status, r.raw)
	}
}

// Requests without a session that write are limited per address: a
// flood of sign-in challenges gets 429 with Retry-After.
func TestPublicRequestsAreLimited(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite)
	var limited int
	for range api.DefaultPublicBurst + 5 {
		r := h.call(t, "POST", "/api/v1/auth/challenge", "", map[string]string{"Authorization": ""})
		if r.status == http.StatusTooManyRequests {
			limited++
			if r.header.Get("Retry-After") == "" || !strings.Contains(r.raw, "too many requests") {
				t.Fatalf("429 without Retry-After or a problem: %v %s", r.header, r.raw)
			}
		}
	}
	if limited == 0 {
		t.Fatal("no request was limited")
	}
}
