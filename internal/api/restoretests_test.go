package api_test

import (
	"context"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/api"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/identity"
	"github.com/hatoba-cloud/hatoba/internal/pki"
	"github.com/hatoba-cloud/hatoba/internal/pki/pkitest"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
	"github.com/hatoba-cloud/hatoba/internal/tenantbackup"
)

// TestRestoreTestEvidence: a tenant administrator records restore-test
// evidence signed with the card; a wrong, replayed or missing signature,
// another tenant's administrator (to whom the environment does not
// exist), a member and an environment without a
// backup target are refused; the evidence is listed, with the target.
func TestRestoreTestEvidence(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, d)
			ctx := context.Background()
			p, _ := pkitest.New(t, pkitest.Options{})
			v, err := pki.New(pki.Options{CACerts: []*x509.Certificate{p.Root.Cert, p.Intermediate.Cert}, Logger: discardLogger()})
			if err != nil {
				t.Fatal(err)
			}
			if h.api.Certs, err = api.NewPKICerts(v, confirmOrigin); err != nil {
				t.Fatal(err)
			}
			person := func(role authz.Role, orgID string, leaf *pkitest.Leaf) string {
				d := pki.Describe(leaf.Cert)
				c := identity.Certificate{IssuerDN: d.IssuerDN, Serial: d.Serial, SPKISHA256: d.SPKISHA256, NotAfter: d.NotAfter}
				_, inv, err := h.ids.Bootstrap(ctx, identity.Invitation{Role: role, OrgID: orgID, DisplayName: string(role) + " " + orgID})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := h.ids.Accept(ctx, inv, c); err != nil {
					t.Fatal(err)
				}
				_, token, _, err := h.ids.SignIn(ctx, c, identity.APIToken, "test")
				if err != nil {
					t.Fatal(err)
				}
				return token
			}
			admin := person(authz.TenantAdmin, "nat-digital", p.ValidRSA)
			member := person(authz.TenantMember, "nat-digital", p.Valid)
			foreign := person(authz.TenantAdmin, "qp-small", p.EmptySubject)
			seedEnv := func(name string) string {
				r := h.call(t, "POST", "/api/v1/environments", strings.Replace(goodRequest, "juminhyo", name, 1), nil)
				if r.status != 201 {
					t.Fatalf("seed environment: %d %s", r.status, r.raw)
				}
				return r.body["id"].(string)
			}
			withTarget, withoutTarget := seedEnv("with"), seedEnv("without")
			err = h.db.InTx(ctx, func(tx *store.Tx) error {
				return h.api.TenantBackups.InsertTarget(ctx, tx, tenantbackup.Target{EnvID: withTarget, Provider: "dom", Tier: "domestic", Jurisdiction: "JP",
					Bucket: tenantbackup.BucketName(withTarget), LockMode: "COMPLIANCE", RetentionDays: 30, CreatedAt: time.Now()})
			})
			if err != nil {
				t.Fatal(err)
			}
			path := func(env string) string { return "/api/v1/environments/" + env + "/restore-tests" }
			body := `{"performed_at":"` + time.Now().UTC().Format(time.RFC3339) + `","restored":"住民記録 DB","result":"succeeded","note":"RTO 42 分"}`
			call := func(token, path, body, sig string) response {
				hdr := map[string]string{"Authorization": "Bearer " + token}
				if sig != "" {
					hdr[pki.ActionSignatureHeader] = sig
				}
				return h.call(t, "POST", path, body, hdr)
			}
			now := time.Now()
			good := signAction(t, p.ValidRSA, p.ValidRSA.Cert, confirmOrigin, "POST", path(withTarget), body, now)
			for _, tt := range []struct {
				name, token, path, body, sig string
				status                       int
				says                         string
			}{
				{"fail/not signed", admin, path(withTarget), body, "", 403, "confirmation"},
				{"fail/signed by another key", admin, path(withTarget), body, signAction(t, p.Valid, p.ValidRSA.Cert, confirmOrigin, "POST", path(withTarget), body, now), 403, "bad_action_signature"},
				{"fail/another body", admin, path(withTarget), strings.Replace(body, "succeeded", "failed", 1), good, 403, "another request body"},
				{"fail/a member", member, path(withTarget), body, signAction(t, p.Valid, p.Valid.Cert, confirmOrigin, "POST", path(withTarget), body, now), 403, ""},
				{"fail/another tenant's administrator", foreign, path(withTarget), body, signAction(t, p.EmptySubject, p.EmptySubject.Cert, confirmOrigin, "POST", path(withTarget), body, now), 404, ""},
				{"fail/no backup target", admin, path(withoutTarget), body, signAction(t, p.ValidRSA, p.ValidRSA.Cert, confirmOrigin, "POST", path(withoutTarget), body, now), 409, "no backup target"},
				{"fail/invalid evidence", admin, path(withTarget), `{"performed_at":"2000-01-01T00:00:00Z","restored":"db","result":"succeeded"}`,
					signAction(t, p.ValidRSA, p.ValidRSA.Cert, confirmOrigin, "POST", path(withTarget), `{"performed_at":"2000-01-01T00:00:00Z","restored":"db","result":"succeeded"}`, now), 422, "performed_at"},
				{"ok/signed by the administrator's card", admin, path(withTarget), body, good, 201, "statement_sha256"},
				{"fail/replayed", admin, path(withTarget), body, good, 403, "already used"},
			} {
				r := call(tt.token, tt.path, tt.body, tt.sig)
				if r.status != tt.status || !strings.Contains(r.raw, tt.says) {
					t.Fatalf("%s: %d %s, want %d saying %q", tt.name, r.status, r.raw, tt.status, tt.says)
				}
			}
			r := h.call(t, "GET", path(withTarget), "", map[string]string{"Authorization": "Bearer " + member})
			if items, _ := r.body["items"].([]any); r.status != 200 || len(items) != 1 {
				t.Fatalf("list: %d %s", r.status, r.raw)
			}
			if r := h.call(t, "GET", path(withTarget), "", map[string]string{"Authorization": "Bearer " + foreign}); r.status != 404 {
				t.Fatalf("a foreign tenant lists: %d %s", r.status, r.raw)
			}
			r = h.call(t, "GET", "/api/v1/environments/"+withTarget+"/backup", "", map[string]string{"Authorization": "Bearer " + member})
			if r.status != 200 || r.body["latest_restore_test"] == nil || r.body["target"] == nil {
				t.Fatalf("backup: %d %s", r.status, r.raw)
			}
			if obj := r.body["objectives"].(map[string]any); obj["rpo_hours"] != 24.0 {
				t.Fatalf("objectives of a production level2 environment: %v", obj)
			}
		})
	}
}
