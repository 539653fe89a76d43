package api_test

import (
	"context"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/api"
	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/identity"
	"github.com/hatoba-cloud/hatoba/internal/pki"
	"github.com/hatoba-cloud/hatoba/internal/pki/pkitest"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

const confirmOrigin = "https://hatoba.test"

// signAction makes the Hatoba-Action-Signature header a CLI would send.
func signAction(t *testing.T, leaf *pkitest.Leaf, cert *x509.Certificate, origin, method, path, body string, at time.Time) string {
	t.Helper()
	st, err := pki.NewActionStatement(origin, method, path, []byte(body), at)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := st.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	sig, err := pki.SignAction(leaf.Key, raw)
	if err != nil {
		t.Fatal(err)
	}
	return pki.FormatActionHeader(raw, sig, cert.Raw)
}

// TestCardConfirmedKeyActions: a key owner signed in with an API token
// (no WebAuthn) creates a key and an XKS credential by confirming each
// request with the card; everything that is not exactly that request,
// fresh, once, with the session's own card, is refused.
func TestCardConfirmedKeyActions(t *testing.T) {
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
			owner := func(name string, leaf *pkitest.Leaf) string {
				d := pki.Describe(leaf.Cert)
				c := identity.Certificate{IssuerDN: d.IssuerDN, Serial: d.Serial, SPKISHA256: d.SPKISHA256, NotAfter: d.NotAfter}
				pr, inv, err := h.ids.Bootstrap(ctx, identity.Invitation{Role: authz.TenantAdmin, OrgID: "nat-digital", DisplayName: name})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := h.ids.Accept(ctx, inv, c); err != nil {
					t.Fatal(err)
				}
				if _, err := h.ids.SetKeyOwner(ctx, authz.Principal{PersonID: "p-designator", Role: authz.TenantAdmin, OrgID: "nat-digital"}, pr.ID, true); err != nil {
					t.Fatal(err)
				}
				_, token, _, err := h.ids.SignIn(ctx, c, identity.APIToken, "test")
				if err != nil {
					t.Fatal(err)
				}
				return token
			}
			alice := owner("Alice", p.ValidRSA)
			owner("Bob", p.Valid) // a second key owner, with a card of his own
			carol := owner("Carol", p.Revoked)

			const keys = "/api/v1/organizations/nat-digital/keys"
			const creds = "/api/v1/organizations/nat-digital/keystore/xks-credentials"
			body := `{"id":"k1"}`
			callAs := func(token, path, body, sig string) response {
				hdr := map[string]string{"Authorization": "Bearer " + token}
				if sig != "" {
					hdr[pki.ActionSignatureHeader] = sig
				}
				return h.call(t, "POST", path, body, hdr)
			}
			call := func(path, body, sig string) response { return callAs(alice, path, body, sig) }
			now := time.Now()
			good := signAction(t, p.ValidRSA, p.ValidRSA.Cert, confirmOrigin, "POST", keys, body, now)

			if r := call(keys, body, ""); r.status != 403 || !strings.Contains(r.raw, "WebAuthn") {
				t.Fatalf("fail/no confirmation: %d %s", r.status, r.raw)
			}
			if r := call(keys, body, good); r.status != 201 {
				t.Fatalf("ok/create key: %d %s", r.status, r.raw)
			}
			if r := call(keys, body, good); r.status != 403 || !strings.Contains(r.raw, "already used") {
				t.Fatalf("fail/replay: %d %s", r.status, r.raw)
			}
			for _, tt := range []struct {
				name, path, body, sig string
				status                int
				says                  string
			}{
				{"fail/another path", creds, "", signAction(t, p.ValidRSA, p.ValidRSA.Cert, confirmOrigin, "POST", keys, "", now), 403, "not this request"},
				{"fail/another body", keys, `{"id":"k3"}`, signAction(t, p.ValidRSA, p.ValidRSA.Cert, confirmOrigin, "POST", keys, `{"id":"k2"}`, now), 403, "another request body"},
				{"fail/another method", keys, body, signAction(t, p.ValidRSA, p.ValidRSA.Cert, confirmOrigin, "PUT", keys, body, now), 403, "not this request"},
				{"fail/a query added", keys + "?x=1", body, signAction(t, p.ValidRSA, p.ValidRSA.Cert, confirmOrigin, "POST", keys, body, now), 403, "not this request"},
				{"fail/another server", keys, body, signAction(t, p.ValidRSA, p.ValidRSA.Cert, "https://evil.test", "POST", keys, body, now), 403, "this server is https://hatoba.test"},
				{"fail/stale", keys, body, signAction(t, p.ValidRSA, p.ValidRSA.Cert, confirmOrigin, "POST", keys, body, now.Add(-3*time.Minute)), 403, "server's time"},
				{"fail/from the future", keys, body, signAction(t, p.ValidRSA, p.ValidRSA.Cert, confirmOrigin, "POST", keys, body, now.Add(3*time.Minute)), 403, "server's time"},
				{"fail/another person's card", keys, body, signAction(t, p.Valid, p.Valid.Cert, confirmOrigin, "POST", keys, body, now), 403, "not the card this session signed in with"},
				{"fail/signed by another key", keys, body, signAction(t, p.Valid, p.ValidRSA.Cert, confirmOrigin, "POST", keys, body, now), 403, "bad_action_signature"},
				{"fail/a card that is not the session's", keys, body, signAction(t, p.Revoked, p.Revoked.Cert, confirmOrigin, "POST", keys, body, now), 403, "not the card this session"},
				{"fail/garbage", keys, body, "statement=!!", 422, "Hatoba-Action-Signature"},
				{"fail/not a statement", keys, body, pki.FormatActionHeader([]byte("hatoba action v2\n"), []byte{1}, p.ValidRSA.Cert.Raw), 422, "docs/keys.md"},
			} {
				t.Run(tt.name, func(t *testing.T) {
					r := call(tt.path, tt.body, tt.sig)
					if r.status != tt.status || !strings.Contains(r.raw, tt.says) {
						t.Fatalf("%d %s, want %d saying %q", r.status, r.raw, tt.status, tt.says)
					}
				})
			}

			// The card is checked again as at sign-in: revoked since, refused.
			if r := callAs(carol, keys, body, signAction(t, p.Revoked, p.Revoked.Cert, confirmOrigin, "POST", keys, body, now)); r.status != 403 || !strings.Contains(r.raw, "certificate_revoked") {
				t.Fatalf("fail/revoked card: %d %s", r.status, r.raw)
			}

			r := call(creds, "", signAction(t, p.ValidRSA, p.ValidRSA.Cert, confirmOrigin, "POST", creds, "", time.Now()))
			if r.status != 201 || r.body["secret"] == "" {
				t.Fatalf("ok/create credential: %d %s", r.status, r.raw)
			}
			// Reading needs no confirmation.
			if r := h.call(t, "GET", keys, "", map[string]string{"Authorization": "Bearer " + alice}); r.status != 200 {
				t.Fatalf("ok/list: %d %s", r.status, r.raw)
			}

			// The audit entries say the card confirmed them, by hash.
			if _, err := h.api.Audit.Integrate(ctx); err != nil {
				t.Fatal(err)
			}
			recs, err := audit.Entries(ctx, h.db, audit.Filter{OrgIDs: []string{"nat-digital"}, ActionPrefix: "key."})
			if err != nil {
				t.Fatal(err)
			}
			raw, _, _, _ := pki.ParseActionHeader(good)
			want := map[string]string{"key.create": pki.ActionStatementHash(raw)}
			seen := map[string]bool{}
			for _, rec := range recs {
				seen[rec.Action] = true
				if !strings.Contains(rec.Details, `"confirmed_by":"card"`) || !strings.Contains(rec.Details, want[rec.Action]) {
					t.Errorf("%s: details %s do not name the card's confirmation", rec.Action, rec.Details)
				}
			}
			if !seen["key.create"] || !seen["key.xks_credential.create"] {
				t.Fatalf("entries: %+v", recs)
			}
		})
	}
}
