package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// A tenant fetches the entries about its scope — break-glass requests
// against it included — and verifies them offline with only the public key.
func TestTenantVerifiesItsAuditEntriesOffline(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite)
	for _, orgID := range []string{"nat-digital", "qp-small"} {
		if r := h.call(t, "POST", "/api/v1/access-requests", `{"org_id":"`+orgID+`","reason":"look at the failed vending","duration":"1h"}`, nil); r.status != http.StatusCreated {
			t.Fatalf("file: %d %s", r.status, r.raw)
		}
	}
	// The harness's operator acts under break-glass grant g-nat here.
	if r := h.call(t, "POST", "/api/v1/environments", goodRequest, nil); r.status != http.StatusCreated {
		t.Fatalf("request: %d %s", r.status, r.raw)
	}
	_, tok := h.person(t, authz.TenantMember, "nat-digital")
	if _, err := h.api.Audit.Integrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := h.call(t, "GET", "/api/v1/audit/entries", "", map[string]string{"Authorization": "Bearer " + tok})
	if r.status != http.StatusOK {
		t.Fatalf("entries: %d %s", r.status, r.raw)
	}
	b, err := audit.ParseBundle([]byte(r.raw))
	if err != nil {
		t.Fatal(err)
	}
	if err := audit.VerifyBundle(b, h.api.AuditVerifierKey); err != nil {
		t.Fatalf("bundle does not verify: %v", err)
	}
	var sawBreakGlass, sawUnderGrant bool
	for _, e := range b.Entries {
		if e.OrgID != "nat-digital" {
			t.Fatalf("entry %d is about %q, outside the tenant's scope", e.Seq, e.OrgID)
		}
		sawBreakGlass = sawBreakGlass || e.Action == "access.request"
		sawUnderGrant = sawUnderGrant || e.Action == "env.requested" && e.GrantID == "g-nat" && e.Actor == h.operatorID
	}
	if !sawBreakGlass {
		t.Fatalf("the tenant does not see the break-glass request against it: %s", r.raw)
	}
	if !sawUnderGrant {
		t.Fatalf("the operator's request under grant g-nat is not in the tenant's log with the grant's id: %s", r.raw)
	}
	// One flipped byte in an entry and the bundle no longer verifies.
	tampered := strings.Replace(r.raw, "look at the failed vending", "look at the FAILED vending", 1)
	var tb audit.Bundle
	if err := json.Unmarshal([]byte(tampered), &tb); err != nil {
		t.Fatal(err)
	}
	if err := audit.VerifyBundle(tb, h.api.AuditVerifierKey); err == nil {
		t.Fatal("a tampered bundle verified")
	}
}
