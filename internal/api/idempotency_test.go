package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

// TestIdempotencyKeyBelongsToThePrincipal: two tenants choosing the same
// Idempotency-Key each get their own environment, and each one's retry
// its own; within one principal the key still guards against a second
// environment and refuses reuse for another request.
func TestIdempotencyKeyBelongsToThePrincipal(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, d)
			_, tokA := h.person(t, authz.TenantAdmin, "nat-digital")
			_, tokB := h.person(t, authz.TenantAdmin, "qp-small")
			as := func(tok string) map[string]string {
				return map[string]string{"Authorization": "Bearer " + tok, "Idempotency-Key": "shared-key"}
			}
			bodyA := goodRequest
			bodyB := strings.Replace(goodRequest, "nat-digital", "qp-small", 1)

			a := h.call(t, "POST", "/api/v1/environments", bodyA, as(tokA))
			if a.status != http.StatusCreated {
				t.Fatalf("A: %d %s", a.status, a.raw)
			}
			b := h.call(t, "POST", "/api/v1/environments", bodyB, as(tokB))
			if b.status != http.StatusCreated || b.body["id"] == a.body["id"] {
				t.Fatalf("B with A's key: %d %s, want 201 and an environment of its own", b.status, b.raw)
			}
			tests := []struct {
				name, body, token string
				status            int
				id                any
			}{
				{"ok/A retries", bodyA, tokA, http.StatusOK, a.body["id"]},
				{"ok/B retries", bodyB, tokB, http.StatusOK, b.body["id"]},
				{"fail/A reuses the key for another request", strings.Replace(bodyA, "juminhyo", "zeimu", 1), tokA, http.StatusConflict, nil},
				{"fail/B sends A's request with the key", bodyA, tokB, http.StatusForbidden, nil},
			}
			for _, tt := range tests {
				r := h.call(t, "POST", "/api/v1/environments", tt.body, as(tt.token))
				if r.status != tt.status || tt.id != nil && r.body["id"] != tt.id {
					t.Errorf("%s: %d %s, want %d %v", tt.name, r.status, r.raw, tt.status, tt.id)
				}
			}
			// The operator's key is theirs whichever grant they ask under.
			op := map[string]string{"Idempotency-Key": "op-key"}
			first := h.call(t, "POST", "/api/v1/environments", strings.Replace(bodyA, "juminhyo", "kokuho", 1), op)
			again := h.call(t, "POST", "/api/v1/environments", strings.Replace(bodyA, "juminhyo", "kokuho", 1), op)
			if first.status != http.StatusCreated || again.status != http.StatusOK || again.body["id"] != first.body["id"] {
				t.Fatalf("operator's retry: %d %s then %d %s", first.status, first.raw, again.status, again.raw)
			}
		})
	}
}
