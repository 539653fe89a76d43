package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/sovereignty"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// TestSovereigntyViews: the tenant reads its environment's whole exposure
// report; a central operator without a grant reads its score and floor
// breaches only, and cannot assess or sign; a signed snapshot verifies
// with the audit log's key; profile changes are the central operators'
// and refuse a stale version.
func TestSovereigntyViews(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite)
	en := h.call(t, "POST", "/api/v1/environments", goodRequest, nil)
	if en.status != http.StatusCreated {
		t.Fatalf("seed environment: %d %s", en.status, en.raw)
	}
	envID := en.body["id"].(string)
	_, admin := h.person(t, authz.TenantAdmin, "nat-digital")
	_, operator := h.person(t, authz.CentralOperator, "")
	as := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

	r := h.call(t, "GET", "/api/v1/environments/"+envID+"/sovereignty", "", as(admin))
	if r.status != http.StatusOK || r.body["environment"] != envID || r.body["profile"] != "aws-example" || r.body["profile_example"] != true {
		t.Fatalf("the tenant's report: %d %s", r.status, r.raw)
	}
	if !strings.Contains(r.body["summary"].(string), "CLOUD Act") {
		t.Errorf("the summary does not name the CLOUD Act: %s", r.body["summary"])
	}
	r = h.call(t, "GET", "/api/v1/environments/"+envID+"/sovereignty", "", as(operator))
	if r.status != http.StatusOK || r.body["view"] != "score_only" || r.body["parties"] != nil {
		t.Fatalf("an operator without a grant: %d %s", r.status, r.raw)
	}
	if r := h.call(t, "POST", "/api/v1/environments/"+envID+"/sovereignty", "", as(operator)); r.status != http.StatusForbidden {
		t.Fatalf("an operator without a grant assessing: %d %s", r.status, r.raw)
	}
	r = h.call(t, "POST", "/api/v1/environments/"+envID+"/sovereignty?snapshot=true", "", as(admin))
	if r.status != http.StatusOK {
		t.Fatalf("snapshot: %d %s", r.status, r.raw)
	}
	var snap sovereignty.Snapshot
	if err := json.Unmarshal([]byte(r.raw), &snap); err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(h.api.AuditVerifierKey)
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := sovereignty.Verify(snap, v); err != nil || rep.Environment != envID {
		t.Fatalf("the snapshot does not verify with the audit log's key: %v", err)
	}
	var n int
	if err := h.db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM audit_queue WHERE action = 'sovereignty.snapshot' AND target = $1`, envID).Scan(&n); err != nil || n != 1 {
		t.Fatalf("snapshot audit entries: %d (%v)", n, err)
	}
	if r := h.call(t, "POST", "/api/v1/environments/"+envID+"/sovereignty?snapshot=yes", "", as(admin)); r.status != http.StatusBadRequest {
		t.Fatalf("snapshot=yes: %d %s", r.status, r.raw)
	}
	// The harness's operator assesses under break-glass grant g-nat: the
	// entry names the operator and the grant the report was read under.
	if r := h.call(t, "POST", "/api/v1/environments/"+envID+"/sovereignty", "", nil); r.status != http.StatusOK {
		t.Fatalf("an operator under a grant assessing: %d %s", r.status, r.raw)
	}
	var grant string
	if err := h.db.QueryRowContext(context.Background(), `SELECT grant_id FROM audit_queue WHERE action = 'sovereignty.assess' AND actor = $1`, h.operatorID).Scan(&grant); err != nil || grant != "g-nat" {
		t.Fatalf("the assessment under a grant is recorded under %q (%v); want g-nat", grant, err)
	}

	// Scores: the operator sees every environment's, with the floors.
	r = h.call(t, "GET", "/api/v1/sovereignty/scores", "", as(operator))
	if r.status != http.StatusOK || len(r.body["items"].([]any)) != 1 || r.body["floors"].(map[string]any)["level3"] == nil {
		t.Fatalf("scores: %d %s", r.status, r.raw)
	}

	// The national view and an outage's blast radius, from the kept
	// assessments.
	r = h.call(t, "GET", "/api/v1/sovereignty/concentration", "", as(operator))
	if r.status != http.StatusOK || r.body["environments"] != float64(1) || len(r.body["views"].([]any)) != 3 {
		t.Fatalf("concentration: %d %s", r.status, r.raw)
	}
	if hhi := r.body["views"].([]any)[0].(map[string]any)["hhi"]; hhi != float64(10000) {
		t.Errorf("one environment on one provider: HHI %v; want 10000", hhi)
	}
	// Its history: the day's point once a full rescore has kept it;
	// central's only, whatever the tenant asks.
	if err := h.api.Sovereignty.RecordConcentration(context.Background()); err != nil {
		t.Fatal(err)
	}
	r = h.call(t, "GET", "/api/v1/sovereignty/concentration/history?dimension=provider&days=90", "", as(operator))
	if items, _ := r.body["items"].([]any); r.status != http.StatusOK || len(items) != 1 || items[0].(map[string]any)["hhi"] != float64(10000) ||
		items[0].(map[string]any)["top"] != "sim" || r.body["days"] != float64(90) {
		t.Fatalf("concentration history: %d %s", r.status, r.raw)
	}
	if r := h.call(t, "GET", "/api/v1/sovereignty/concentration/history", "", as(operator)); r.status != http.StatusOK || r.body["dimension"] != "provider" {
		t.Fatalf("concentration history by default: %d %s", r.status, r.raw)
	}
	if r := h.call(t, "GET", "/api/v1/sovereignty/concentration/history", "", as(admin)); r.status != http.StatusForbidden {
		t.Fatalf("a tenant reading the national history: %d %s", r.status, r.raw)
	}
	for q, field := range map[string]string{"?dimension=country": "dimension", "?days=0": "days", "?days=401": "days", "?days=x": "days", "?since=1": "since"} {
		r := h.call(t, "GET", "/api/v1/sovereignty/concentration/history"+q, "", as(operator))
		if r.status != http.StatusBadRequest || r.body["field"] != field {
			t.Errorf("concentration history%s: %d %s; want 400 naming %s", q, r.status, r.raw, field)
		}
	}
	r = h.call(t, "GET", "/api/v1/sovereignty/blast-radius?provider=sim", "", as(operator))
	if r.status != http.StatusOK || r.body["systems"] != float64(1) || r.body["without_fallback"] != float64(1) {
		t.Fatalf("blast radius: %d %s", r.status, r.raw)
	}
	for q, field := range map[string]string{"": "provider", "?region=x": "provider", "?provider=sim&region=a&zone=b": "zone", "?provider=sim&az=1": "az"} {
		r := h.call(t, "GET", "/api/v1/sovereignty/blast-radius"+q, "", as(operator))
		if (r.status != http.StatusBadRequest && r.status != http.StatusUnprocessableEntity) || r.body["field"] != field && !strings.Contains(r.raw, field) {
			t.Errorf("blast radius%s: %d %s; want a 4xx naming %s", q, r.status, r.raw, field)
		}
	}

	// Profiles: a new version from a central operator, refused to a
	// tenant and when based on a stale version.
	got := h.call(t, "GET", "/api/v1/sovereignty/profiles/aws-example", "", as(admin))
	if got.status != http.StatusOK {
		t.Fatalf("profile: %d %s", got.status, got.raw)
	}
	doc := got.body["document"].(string)
	v2 := strings.Replace(doc, "version: 1", "version: 2", 1)
	body, _ := json.Marshal(map[string]string{"document": v2})
	if r := h.call(t, "PUT", "/api/v1/sovereignty/profiles/aws-example", string(body), as(admin)); r.status != http.StatusForbidden {
		t.Fatalf("a tenant changing a profile: %d %s", r.status, r.raw)
	}
	if r := h.call(t, "PUT", "/api/v1/sovereignty/profiles/aws-example", string(body), as(operator)); r.status != http.StatusOK {
		t.Fatalf("an operator changing a profile: %d %s", r.status, r.raw)
	}
	if r := h.call(t, "PUT", "/api/v1/sovereignty/profiles/aws-example", string(body), as(operator)); r.status != http.StatusConflict {
		t.Fatalf("the same version again: %d %s", r.status, r.raw)
	}
	other, _ := json.Marshal(map[string]string{"document": strings.Replace(v2, "version: 2", "version: 3", 1)})
	if r := h.call(t, "PUT", "/api/v1/sovereignty/profiles/openstack-domestic-example", string(other), as(operator)); r.status != http.StatusBadRequest && r.status != http.StatusUnprocessableEntity {
		t.Fatalf("a document of another profile under this name: %d %s", r.status, r.raw)
	}
	bad, _ := json.Marshal(map[string]string{"document": "name: aws-example\nversion: 3\nteir: x\n"})
	if r := h.call(t, "PUT", "/api/v1/sovereignty/profiles/aws-example", string(bad), as(operator)); r.status < 400 || r.status >= 500 || !strings.Contains(r.raw, "teir") {
		t.Fatalf("a profile with a typo: %d %s", r.status, r.raw)
	}
}
