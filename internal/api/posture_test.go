package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

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
		// The English message as before, and the format and values a
		// client can translate with the control's messages.
		{"message", "", 200, `"message": "arn:aws:iam::1:user/alice: IAM user \"alice\" exists; people sign in through the identity center"`},
		{"message format", "", 200, `"message_format": "IAM user %q exists; people sign in through the identity center",
      "message_params": [
        "alice"
      ]`},
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

// Central staff without a break-glass grant read an environment's score
// and its critical findings with their resource ids, marked as a cut, and
// nothing else: no other finding, no inventory, the same in the reports.
// The tenant and an operator under a grant read everything.
func TestCentralSeesCriticalFindingsOnly(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite)
	en := h.call(t, "POST", "/api/v1/environments", goodRequest, nil)
	if en.status != http.StatusCreated {
		t.Fatalf("seed: %d %s", en.status, en.raw)
	}
	id := en.body["id"].(string)
	// An IAM user and a bucket without its public access block: findings
	// of several severities, critical among them.
	if _, err := h.api.Posture.Record(context.Background(), id, "nat-digital", []controls.Resource{
		{Provider: "aws", Type: "aws_iam_user", ID: "arn:aws:iam::1:user/alice", Config: map[string]any{"name": "alice"}},
		{Provider: "aws", Type: "aws_s3_bucket", ID: "arn:aws:s3:::minutes-2026", Config: map[string]any{"bucket": "minutes-2026"}},
	}); err != nil {
		t.Fatal(err)
	}
	fs, err := h.api.Posture.Findings(context.Background(), id, false)
	if err != nil {
		t.Fatal(err)
	}
	var critical, other int
	for _, f := range fs {
		if f.Severity == controls.Critical {
			critical++
		} else {
			other++
		}
	}
	if critical == 0 || other == 0 {
		t.Fatalf("the seed gave %d critical and %d other findings; the test needs both", critical, other)
	}
	_, op := h.person(t, authz.CentralOperator, "")
	_, auditor := h.person(t, authz.CentralAuditor, "")
	_, member := h.person(t, authz.TenantMember, "nat-digital")
	grantedID, granted := h.person(t, authz.CentralOperator, "")
	h.mu.Lock()
	h.grants[grantedID] = []authz.Grant{{ID: "g-posture", OrgID: "nat-digital", Expiry: time.Now().Add(time.Hour)}}
	h.mu.Unlock()
	for _, tt := range []struct {
		name     string
		token    string
		findings int
		cut      bool
		invent   int
	}{
		{"operator without a grant", op, critical, true, http.StatusForbidden},
		{"auditor", auditor, critical, true, http.StatusForbidden},
		{"operator under a grant", granted, critical + other, false, http.StatusOK},
		{"tenant member", member, critical + other, false, http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			as := map[string]string{"Authorization": "Bearer " + tt.token}
			for _, q := range []string{"", "?format=ocsf"} {
				r := h.call(t, "GET", "/api/v1/environments/"+id+"/findings"+q, "", as)
				items, _ := r.body["items"].([]any)
				if r.status != http.StatusOK || len(items) != tt.findings || (r.body["view"] == "critical_only") != tt.cut {
					t.Errorf("findings%s: %d, %d items, view %v; want %d items, cut %v", q, r.status, len(items), r.body["view"], tt.findings, tt.cut)
				}
				for _, f := range fs {
					if f.Severity == controls.Critical && !strings.Contains(r.raw, f.ResourceID) {
						t.Errorf("findings%s: the critical finding's resource %s must show: %s", q, f.ResourceID, r.raw)
					}
				}
				for _, it := range items {
					if f, _ := it.(map[string]any); q == "" && tt.cut && f["severity"] != "critical" {
						t.Errorf("findings: a %v finding reached central staff without a grant", f["severity"])
					}
				}
			}
			if r := h.call(t, "GET", "/api/v1/environments/"+id+"/inventory", "", as); r.status != tt.invent {
				t.Errorf("inventory: %d %s; want %d", r.status, r.raw, tt.invent)
			} else if r.status == http.StatusForbidden && !strings.Contains(r.raw, "break-glass grant") {
				t.Errorf("inventory refusal does not say how to get it: %s", r.raw)
			}
			if r := h.call(t, "GET", "/api/v1/environments/"+id+"/posture", "", as); r.status != http.StatusOK || r.body["failed"] != float64(critical+other) {
				t.Errorf("score: %d %s; central reads the whole score", r.status, r.raw)
			}
			open := critical + other
			if tt.cut {
				open = critical
			}
			if r := h.call(t, "GET", "/api/v1/organizations/nat-digital/report", "", as); r.status != http.StatusOK || r.body["open_findings"] != float64(open) {
				t.Errorf("report: %d, %v open findings; want %d", r.status, r.body["open_findings"], open)
			}
			for _, path := range []string{"/api/v1/organizations/nat-digital/oscal", "/api/v1/environments/" + id + "/oscal"} {
				r := h.call(t, "GET", path, "", as)
				var doc struct {
					AR struct {
						Results []struct {
							Findings []any `json:"findings"`
						} `json:"results"`
					} `json:"assessment-results"`
				}
				if err := json.Unmarshal([]byte(r.raw), &doc); err != nil || r.status != http.StatusOK || len(doc.AR.Results) != 1 || len(doc.AR.Results[0].Findings) != open {
					t.Errorf("%s: %d %v; want %d findings: %.300s", path, r.status, err, open, r.raw)
				}
			}
		})
	}
}
