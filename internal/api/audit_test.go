package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/api"
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

// Whoever kept a checkpoint proves with the public key alone that the log
// grew from it without being rewritten; impossible sizes are 400.
func TestAuditConsistencyProof(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite)
	_, tok := h.person(t, authz.TenantMember, "nat-digital")
	as := map[string]string{"Authorization": "Bearer " + tok}
	if _, err := h.api.Audit.Integrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	key := h.call(t, "GET", "/api/v1/audit/key", "", as)
	saved := key.body["checkpoint"].(string)
	if r := h.call(t, "POST", "/api/v1/environments", goodRequest, nil); r.status != http.StatusCreated {
		t.Fatalf("request: %d %s", r.status, r.raw)
	}
	if _, err := h.api.Audit.Integrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	v, err := audit.ParseVerifierKey(h.api.AuditVerifierKey)
	if err != nil {
		t.Fatal(err)
	}
	old, err := audit.ParseCheckpoint([]byte(saved), v)
	if err != nil {
		t.Fatal(err)
	}
	r := h.call(t, "GET", fmt.Sprintf("/api/v1/audit/consistency?from=%d", old.Size), "", as)
	if r.status != http.StatusOK {
		t.Fatalf("consistency: %d %s", r.status, r.raw)
	}
	var c api.AuditConsistency
	if err := json.Unmarshal([]byte(r.raw), &c); err != nil {
		t.Fatal(err)
	}
	proof := make([][]byte, len(c.Proof))
	for i, h := range c.Proof {
		proof[i] = h
	}
	if _, newer, err := audit.VerifyConsistency(v, []byte(saved), []byte(c.Checkpoint), proof); err != nil || newer.Size <= old.Size || c.From != old.Size || c.To != newer.Size {
		t.Fatalf("the proof from %d to %d does not verify: %v (%s)", old.Size, c.To, err, r.raw)
	}
	for q, field := range map[string]string{"": "from", "from=x": "from", "from=-1": "from", "from=999999": "from",
		"from=1&to=0": "to", "from=1&to=999999": "to", "from=1&size=2": "size"} {
		r := h.call(t, "GET", "/api/v1/audit/consistency?"+q, "", as)
		if r.status != http.StatusBadRequest || r.body["field"] != field {
			t.Errorf("fail/?%s: %d %s, want 400 naming %q", q, r.status, r.raw, field)
		}
	}
}
