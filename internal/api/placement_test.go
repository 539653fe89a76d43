package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

func TestProviders(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite)
	// Any signed-in person reads them: tenants choose a provider with them.
	_, member := h.person(t, authz.TenantMember, "nat-digital")
	r := h.call(t, "GET", "/api/v1/providers", "", map[string]string{"Authorization": "Bearer " + member})
	if r.status != http.StatusOK {
		t.Fatalf("GET /providers: %d %s", r.status, r.raw)
	}
	items := r.body["items"].([]any)
	if len(items) != 2 {
		t.Fatalf("providers: %s", r.raw)
	}
	sim, domestic := items[0].(map[string]any), items[1].(map[string]any)
	if sim["name"] != "sim" || sim["kind"] != "sim" || sim["tier"] != "hyperscaler" || domestic["kind"] != "openstack" || domestic["tier"] != "domestic" {
		t.Errorf("kinds and tiers: %s", r.raw)
	}
	// The default policy keeps level3 on the domestic tier.
	if got := join(domestic["allowed_classifications"]); got != "level1,level2,level3" {
		t.Errorf("domestic allows %s", got)
	}
	if got := join(sim["allowed_classifications"]); got != "level1,level2" {
		t.Errorf("sim allows %s", got)
	}
	caps := sim["capabilities"].(map[string]any)
	if caps["close"] != true || caps["transfer"] != true {
		t.Errorf("capabilities %v", caps)
	}
	// No credential or endpoint reaches anyone (the closed schema holds the rest).
	for _, word := range []string{"secret", "endpoint", "access_key", "password"} {
		if strings.Contains(strings.ToLower(r.raw), word) {
			t.Errorf("GET /providers mentions %q: %s", word, r.raw)
		}
	}
}

func join(v any) string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return strings.Join(out, ",")
}

func TestPlacementPolicyAPI(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite)
	ctx := context.Background()
	_, admin := h.person(t, authz.TenantAdmin, "nat-digital")
	asAdmin := map[string]string{"Authorization": "Bearer " + admin}

	r := h.call(t, "GET", "/api/v1/placement-policy", "", asAdmin)
	if r.status != http.StatusOK || r.body["version"] != float64(1) || r.body["changed_by"] != "system" {
		t.Fatalf("GET the seeded policy: %d %s", r.status, r.raw)
	}
	refuseLevel3 := `{"version":1,"rules":[{"classification":"level3","tiers":["domestic"],"providers":[],"on_breach":"refuse"}],
		"one_provider_per_system":{"enabled":true,"on_breach":"refuse"}}`

	// A tenant cannot change it.
	if r := h.call(t, "PUT", "/api/v1/placement-policy", refuseLevel3, asAdmin); r.status != http.StatusForbidden {
		t.Fatalf("a tenant administrator's PUT: %d %s", r.status, r.raw)
	}
	// A central operator can, once per version; audited as the person.
	r = h.call(t, "PUT", "/api/v1/placement-policy", refuseLevel3, nil)
	if r.status != http.StatusOK || r.body["version"] != float64(2) || r.body["changed_by"] != h.operatorID {
		t.Fatalf("the operator's PUT: %d %s", r.status, r.raw)
	}
	if r := h.call(t, "PUT", "/api/v1/placement-policy", refuseLevel3, nil); r.status != http.StatusConflict || !strings.Contains(r.raw, "version 2") {
		t.Fatalf("a PUT based on a stale version: %d %s", r.status, r.raw)
	}
	if r := h.call(t, "PUT", "/api/v1/placement-policy", `{"version":2,"rules":[{"classification":"level3","tiers":["offshore"],"providers":[],"on_breach":"refuse"}],"one_provider_per_system":{"enabled":false,"on_breach":"approve"}}`, nil); r.status != http.StatusUnprocessableEntity {
		t.Fatalf("an invalid policy: %d %s", r.status, r.raw)
	}
	var actor, details string
	if err := h.db.QueryRowContext(ctx, `SELECT actor, details FROM audit_queue WHERE action = 'placement.policy.update'`).Scan(&actor, &details); err != nil {
		t.Fatal(err)
	}
	if actor != h.operatorID || !strings.Contains(details, `"previous_version":1`) || !strings.Contains(details, `"on_breach":"refuse"`) {
		t.Errorf("audited as %s: %s", actor, details)
	}

	// A request that breaks a refuse rule: 422 naming classification, provider, tier and rule.
	r = h.call(t, "POST", "/api/v1/environments", strings.NewReplacer("level2", "level3", "juminhyo", "kokuho").Replace(goodRequest), nil)
	if r.status != http.StatusUnprocessableEntity || r.body["field"] != "provider" {
		t.Fatalf("level3 on sim: %d %s", r.status, r.raw)
	}
	pl := r.body["placement"].(map[string]any)
	breach := pl["breaches"].([]any)[0].(map[string]any)
	if pl["classification"] != "level3" || pl["provider"] != "sim" || pl["tier"] != "hyperscaler" || breach["rule"] != "level3" || breach["on_breach"] != "refuse" {
		t.Errorf("placement member: %s", r.raw)
	}
	// On the domestic tier it is vended.
	r = h.call(t, "POST", "/api/v1/environments", strings.NewReplacer("level2", "level3", "juminhyo", "kokuho", `"sim"`, `"domestic"`).Replace(goodRequest), nil)
	if r.status != http.StatusCreated || r.body["state"] != "approved" {
		t.Fatalf("level3 on the domestic tier: %d %s", r.status, r.raw)
	}
	first := r.body["id"].(string)
	// The same system on another provider: refused, naming the other environment.
	r = h.call(t, "POST", "/api/v1/environments", strings.NewReplacer("juminhyo", "kokuho", "production", "staging").Replace(goodRequest), nil)
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.raw, first) {
		t.Fatalf("the system on another provider: %d %s", r.status, r.raw)
	}
}
