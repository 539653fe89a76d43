package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// An environment's exit readiness: nothing to say before its inventory
// is collected; then its tenant (and an operator under a grant) read the
// services and the rework list, central staff the score and counts.
func TestExitReadiness(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite)
	en := h.call(t, "POST", "/api/v1/environments", goodRequest, nil)
	if en.status != http.StatusCreated {
		t.Fatalf("seed: %d %s", en.status, en.raw)
	}
	id := en.body["id"].(string)
	path := "/api/v1/environments/" + id + "/exit-readiness"
	_, member := h.person(t, authz.TenantMember, "nat-digital")
	asMember := map[string]string{"Authorization": "Bearer " + member}

	r := h.call(t, "GET", path, "", asMember)
	if r.status != http.StatusOK || r.body["collected"] != false || r.body["score"] != nil {
		t.Fatalf("before any inventory: %d %s; want collected false and no score", r.status, r.raw)
	}
	if r := h.call(t, "GET", path+"?format=x", "", asMember); r.status != http.StatusBadRequest {
		t.Errorf("an unknown parameter: %d, want 400", r.status)
	}

	// Two portable resources (a VM, a bucket), two proprietary (tables),
	// one plumbing (an IAM role): 50 %, DynamoDB to rework.
	if _, err := h.api.Posture.Record(context.Background(), id, "nat-digital", []controls.Resource{
		{Provider: "aws", Type: "aws_instance", ID: "i-1", Config: map[string]any{}},
		{Provider: "aws", Type: "aws_s3_bucket", ID: "arn:aws:s3:::b", Config: map[string]any{"bucket": "b"}},
		{Provider: "aws", Type: "aws_dynamodb_table", ID: "t1", Config: map[string]any{}},
		{Provider: "aws", Type: "aws_dynamodb_table", ID: "t2", Config: map[string]any{}},
		{Provider: "aws", Type: "aws_iam_role", ID: "r", Config: map[string]any{}},
	}); err != nil {
		t.Fatal(err)
	}
	_, op := h.person(t, authz.CentralOperator, "")
	grantedID, granted := h.person(t, authz.CentralOperator, "")
	h.mu.Lock()
	h.grants[grantedID] = []authz.Grant{{ID: "g-exit", OrgID: "nat-digital", Expiry: time.Now().Add(time.Hour)}}
	h.mu.Unlock()
	for _, tt := range []struct {
		name, token, view string
	}{
		{"ok/tenant member", member, "full"},
		{"ok/operator under a grant", granted, "full"},
		{"ok/operator without a grant reads the score", op, "score_only"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := h.call(t, "GET", path, "", map[string]string{"Authorization": "Bearer " + tt.token})
			if r.status != http.StatusOK || r.body["view"] != tt.view || r.body["collected"] != true || r.body["score"] != float64(50) ||
				r.body["portable"] != float64(2) || r.body["proprietary"] != float64(2) {
				t.Fatalf("%d %s; want view %s, score 50, 2 portable, 2 proprietary", r.status, r.raw, tt.view)
			}
			rework, _ := r.body["rework"].([]any)
			if tt.view == "score_only" {
				if r.body["services"] != nil || rework != nil || strings.Contains(r.raw, "aws_") {
					t.Errorf("central staff without a grant read the tenant's services: %s", r.raw)
				}
				return
			}
			if len(rework) != 1 || rework[0].(map[string]any)["type"] != "aws_dynamodb_table" || rework[0].(map[string]any)["count"] != float64(2) {
				t.Errorf("rework: %s; want the two DynamoDB tables", r.raw)
			}
		})
	}
}
