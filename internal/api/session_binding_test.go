package api_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/api"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/identity"
	"github.com/hatoba-cloud/hatoba/internal/pki"
	"github.com/hatoba-cloud/hatoba/internal/pki/pkitest"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// The API honours a console session only as the cookie, only for reads and
// only on a connection presenting the card the session was opened with; an
// API token only as a bearer token.
func TestSessionKindsAndCardBinding(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite)
	ctx := context.Background()
	p, _ := pkitest.New(t, pkitest.Options{})
	certOf := func(l *pkitest.Leaf) identity.Certificate {
		d := pki.Describe(l.Cert)
		return identity.Certificate{IssuerDN: d.IssuerDN, Serial: d.Serial, SPKISHA256: d.SPKISHA256, NotAfter: d.NotAfter}
	}
	_, inv, err := h.ids.Bootstrap(ctx, identity.Invitation{Role: authz.TenantMember, OrgID: "nat-digital", DisplayName: "M"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.ids.Accept(ctx, inv, certOf(p.Valid)); err != nil {
		t.Fatal(err)
	}
	_, console, _, err := h.ids.SignIn(ctx, certOf(p.Valid), identity.ConsoleSession, "test")
	if err != nil {
		t.Fatal(err)
	}
	_, token, _, err := h.ids.SignIn(ctx, certOf(p.Valid), identity.APIToken, "test")
	if err != nil {
		t.Fatal(err)
	}

	srv := httptest.NewUnstartedServer(h.srv.Config.Handler)
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	clientWith := func(leaf *pkitest.Leaf) *http.Client {
		base := srv.Client().Transport.(*http.Transport).Clone()
		if leaf != nil {
			var chain [][]byte
			for _, c := range leaf.Chain {
				chain = append(chain, c.Raw)
			}
			base.TLSClientConfig.Certificates = []tls.Certificate{{Certificate: chain, PrivateKey: leaf.Key, Leaf: leaf.Cert}}
		}
		return &http.Client{Transport: base, Timeout: 10 * time.Second}
	}
	tests := []struct {
		name   string
		card   *pkitest.Leaf
		method string
		cookie string
		bearer string
		want   int
	}{
		{"cookie with its card reads", p.Valid, "GET", console, "", http.StatusOK},
		{"cookie with another card", p.ValidRSA, "GET", console, "", http.StatusUnauthorized},
		{"cookie without a card", nil, "GET", console, "", http.StatusUnauthorized},
		{"cookie cannot write", p.Valid, "POST", console, "", http.StatusUnauthorized},
		{"a console session is no bearer token", p.Valid, "GET", "", console, http.StatusUnauthorized},
		{"an API token is no cookie", p.Valid, "GET", token, "", http.StatusUnauthorized},
		{"an API token as bearer, any card or none", nil, "GET", "", token, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := "/api/v1/me"
			if tt.method == "POST" {
				path = "/api/v1/auth/logout"
			}
			req, _ := http.NewRequest(tt.method, srv.URL+path, nil)
			if tt.cookie != "" {
				req.AddCookie(&http.Cookie{Name: api.SessionCookie, Value: tt.cookie})
			}
			if tt.bearer != "" {
				req.Header.Set("Authorization", "Bearer "+tt.bearer)
			}
			resp, err := clientWith(tt.card).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}
