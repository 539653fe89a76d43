package api_test

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// A tenant administrator sets up a channel and an ingestion token through
// the API; Security Hub's findings posted with the token land in the
// tenant's events and outbox; another tenant sees none of it and cannot
// post into it.
func TestNotifyThroughTheAPI(t *testing.T) {
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			h := newHarness(t, d)
			ctx := context.Background()
			en := h.call(t, "POST", "/api/v1/environments", goodRequest, nil)
			if en.status != http.StatusCreated {
				t.Fatalf("seed environment: %d %s", en.status, en.raw)
			}
			if err := h.api.Envs.SetAccount(ctx, h.db, en.body["id"].(string), "123456789012"); err != nil {
				t.Fatal(err)
			}
			_, admin := h.person(t, authz.TenantAdmin, "nat-digital")
			_, foreign := h.person(t, authz.TenantAdmin, "qp-small")
			as := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

			ch := h.call(t, "POST", "/api/v1/organizations/nat-digital/notify/channels",
				`{"name":"soc","kind":"webhook","url":"https://soc.example.lg.jp/hatoba","min_severity":"medium","quiet_from":"22:00","quiet_to":"07:00"}`, as(admin))
			if ch.status != http.StatusCreated || !strings.HasPrefix(ch.body["signing_key"].(string), "whsec_") || ch.body["target_hint"] != "https://soc.example.lg.jp/…" {
				t.Fatalf("create channel: %d %s", ch.status, ch.raw)
			}
			chID := ch.body["id"].(string)
			if r := h.call(t, "GET", "/api/v1/organizations/nat-digital/notify/channels/"+chID, "", as(admin)); r.status != http.StatusOK ||
				strings.Contains(r.raw, "signing_key") || strings.Contains(r.raw, "/hatoba") {
				t.Fatalf("read channel: %d %s", r.status, r.raw)
			}
			if r := h.call(t, "GET", "/api/v1/organizations/nat-digital/notify/channels/"+chID, "", as(foreign)); r.status != http.StatusNotFound {
				t.Fatalf("foreign tenant reads the channel: %d %s", r.status, r.raw)
			}
			if r := h.call(t, "GET", "/api/v1/organizations/qp-small/notify/channels/"+chID, "", as(foreign)); r.status != http.StatusNotFound {
				t.Fatalf("foreign tenant reads the channel under its own organisation: %d %s", r.status, r.raw)
			}
			tok := h.call(t, "POST", "/api/v1/organizations/nat-digital/notify/ingest-token", "", as(admin))
			if tok.status != http.StatusCreated {
				t.Fatalf("ingest token: %d %s", tok.status, tok.raw)
			}
			body, err := os.ReadFile("../notify/testdata/asff-eventbridge.json")
			if err != nil {
				t.Fatal(err)
			}
			ingest := func(org, token string) response {
				return h.call(t, "POST", "/api/v1/notify/ingest/"+org+"/asff", string(body), map[string]string{"Authorization": "", "X-Hatoba-Ingest-Token": token})
			}
			if r := ingest("nat-digital", "hti_wrong"); r.status != http.StatusUnauthorized {
				t.Fatalf("a wrong token: %d %s", r.status, r.raw)
			}
			if r := ingest("qp-small", tok.body["token"].(string)); r.status != http.StatusUnauthorized {
				t.Fatalf("nat-digital's token for qp-small: %d %s", r.status, r.raw)
			}
			r := ingest("nat-digital", tok.body["token"].(string))
			if r.status != http.StatusAccepted || r.body["received"] != 2.0 || r.body["New"] != 2.0 || r.body["Queued"] != 2.0 {
				t.Fatalf("ingest: %d %s", r.status, r.raw)
			}
			if r := ingest("nat-digital", tok.body["token"].(string)); r.body["Duplicate"] != 2.0 {
				t.Fatalf("ingest again: %d %s", r.status, r.raw)
			}
			evs := h.call(t, "GET", "/api/v1/organizations/nat-digital/notify/events", "", as(admin))
			if items, _ := evs.body["items"].([]any); len(items) != 2 {
				t.Fatalf("events: %s", evs.raw)
			}
			if r := h.call(t, "GET", "/api/v1/organizations/nat-digital/notify/events", "", as(foreign)); r.status != http.StatusNotFound && r.status != http.StatusForbidden {
				t.Fatalf("foreign tenant reads events: %d %s", r.status, r.raw)
			}
			// Central sees the critical one and sends a notice; the tenant
			// acknowledges it and reports the fix.
			crit := h.call(t, "GET", "/api/v1/organizations/nat-digital/notify/critical-events", "", nil)
			items, _ := crit.body["items"].([]any)
			if len(items) != 1 {
				t.Fatalf("critical events for central: %s", crit.raw)
			}
			evID := items[0].(map[string]any)["id"].(string)
			nt := h.call(t, "POST", "/api/v1/notify/notices", `{"event_id":"`+evID+`","message":"公開バケットを閉じてください"}`, nil)
			if nt.status != http.StatusCreated {
				t.Fatalf("notice: %d %s", nt.status, nt.raw)
			}
			ntID := nt.body["id"].(string)
			if r := h.call(t, "POST", "/api/v1/organizations/qp-small/notify/notices/"+ntID+"/acknowledge", "", as(foreign)); r.status != http.StatusNotFound {
				t.Fatalf("foreign tenant acknowledges: %d %s", r.status, r.raw)
			}
			if r := h.call(t, "POST", "/api/v1/organizations/nat-digital/notify/notices/"+ntID+"/fix", `{"note":"ブロックしました"}`, as(admin)); r.status != http.StatusOK || r.body["state"] != "fixed" {
				t.Fatalf("fix: %d %s", r.status, r.raw)
			}
			sp := h.call(t, "POST", "/api/v1/organizations/nat-digital/notify/suppressions",
				`{"resource_id":"arn:aws:s3:::juminhyo-exports","reason":"the exports bucket is being retired","expires_at":"`+time.Now().Add(30*24*time.Hour).UTC().Format(time.RFC3339)+`"}`, as(admin))
			if sp.status != http.StatusCreated {
				t.Fatalf("suppress: %d %s", sp.status, sp.raw)
			}
			if r := h.call(t, "DELETE", "/api/v1/organizations/qp-small/notify/suppressions/"+sp.body["id"].(string), "", as(foreign)); r.status != http.StatusNotFound {
				t.Fatalf("foreign tenant lifts: %d %s", r.status, r.raw)
			}
			ds := h.call(t, "GET", "/api/v1/organizations/nat-digital/notify/deliveries?state=pending", "", as(admin))
			if items, _ := ds.body["items"].([]any); len(items) == 0 {
				t.Fatalf("deliveries: %s", ds.raw)
			}
			if r := h.call(t, "GET", "/api/v1/organizations/qp-small/notify/deliveries", "", as(foreign)); len(r.body["items"].([]any)) != 0 {
				t.Fatalf("foreign tenant's deliveries: %s", r.raw)
			}
		})
	}
}
