package web

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/pki/pkitest"
)

// card is a browser on the TLS harness that presents leaf as its client
// certificate (nil: none). It sends whatever certificate it is given, as a
// person choosing it in the browser's dialog would, even one the server's
// list of issuers does not name.
func (th *tlsHarness) card(t testing.TB, leaf *pkitest.Leaf) *browser {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(th.serverCA)
	cfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if leaf != nil {
		c := leaf.TLSCertificate()
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &c, nil }
	}
	// No cookie jar: the session cookie is carried by hand, so a test can
	// hand one browser's cookie to another card.
	return &browser{h: th.harness, base: th.srv.URL, client: &http.Client{Timeout: 20 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: cfg},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func TestLoginPageJudgesTheCertificate(t *testing.T) {
	t.Parallel()
	th := newTLSHarness(t)
	p := th.pki
	tests := []struct {
		name string
		leaf *pkitest.Leaf
		want []string
		ok   bool
	}{
		{"ok/valid", p.Valid, []string{"この証明書でログインできます", `action="/login"`, p.Valid.Cert.Subject.CommonName}, true},
		{"ok/no name, like the My Number Card", p.EmptySubject, []string{"名前なし — 利用者証明用電子証明書"}, true},
		{"fail/none", nil, []string{"証明書が提示されていません", "カードを読み取り機に置いてから"}, false},
		{"fail/expired", p.Expired, []string{"この証明書ではログインできません", "有効期限が切れています", "(certificate_expired)"}, false},
		{"fail/revoked", p.Revoked, []string{"失効または一時停止", "(certificate_revoked)"}, false},
		{"fail/unknown issuer", p.Untrusted, []string{"信頼する認証局", "(unknown_issuer)"}, false},
		{"fail/wrong key usage", p.KeyEncipherment, []string{"ログイン用ではありません", "(wrong_key_usage)"}, false},
		{"fail/server certificate", p.ServerAuth, []string{"ログイン用ではありません", "(wrong_key_usage)"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := th.card(t, tt.leaf).get(t, "/login?next=/envs")
			if r.status != http.StatusOK {
				t.Fatalf("status %d", r.status)
			}
			mustContain(t, r.body, tt.want...)
			if tt.leaf != nil {
				mustContain(t, r.body, "発行者", "シリアル番号", "有効期限")
			}
			if has := strings.Contains(r.body, `action="/login"`); has != tt.ok {
				t.Errorf("sign-in button shown: %v, want %v", has, tt.ok)
			}
			if tt.ok {
				mustContain(t, r.body, `<input type="hidden" name="next" value="/envs">`)
			}
		})
	}
	// English, with the refusal's explanation in English too.
	r := th.card(t, p.Expired).get(t, "/login?lang=en")
	mustContain(t, r.body, "This certificate cannot be used to sign in", "The certificate has expired.")
}

// TestCardJourneyOverTLS takes the whole path with real certificates:
// invitation, registering the card, the session's binding to it, signing
// in again, and the refusals on the way.
func TestCardJourneyOverTLS(t *testing.T) {
	t.Parallel()
	th := newTLSHarness(t)
	p := th.pki
	_, token := th.invite(t, authz.TenantAdmin, "lg-011002", "札幌 花子")

	// The invitation page shows who is invited and the card presented.
	card := th.card(t, p.Valid)
	page := card.get(t, "/invitations/"+token)
	if page.status != http.StatusOK {
		t.Fatalf("invitation page: %d\n%s", page.status, page.body)
	}
	mustContain(t, page.body, "カードを登録する", "札幌 花子", "団体管理者", "札幌市", "この証明書でログインできます",
		`action="/invitations/`+token+`"`)

	// Registering the card signs the person in; the security key is next.
	r := card.post(t, "/invitations/"+token, url.Values{})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login/second-factor?welcome=1" {
		t.Fatalf("register: %d %q\n%s", r.status, r.header.Get("Location"), r.body)
	}
	ck := r.header.Get("Set-Cookie")
	for _, want := range []string{"__Host-hatoba_session=hbs_", "Path=/", "Max-Age=28800", "HttpOnly", "Secure", "SameSite=Strict"} {
		if !strings.Contains(ck, want) {
			t.Errorf("Set-Cookie %q lacks %q", ck, want)
		}
	}
	if strings.Contains(ck, "Domain=") {
		t.Errorf("Set-Cookie %q names a domain; __Host- cookies must not", ck)
	}
	if r := card.get(t, "/"); r.status != http.StatusSeeOther || r.header.Get("Location") != "/login/second-factor" {
		t.Fatalf("before the second factor: %d %q", r.status, r.header.Get("Location"))
	}
	mustContain(t, card.get(t, "/login/second-factor?welcome=1").body, "カードを登録し、ログインしました", `data-webauthn="register"`)
	if err := th.ids.ConfirmSecondFactor(t.Context(), card.session); err != nil {
		t.Fatal(err)
	}
	mustContain(t, card.get(t, "/").body, "札幌 花子", "ダッシュボード")

	t.Run("fail/the cookie on another card's connection", func(t *testing.T) {
		thief := th.card(t, p.ValidRSA)
		thief.session = card.session
		r := thief.get(t, "/envs")
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login?next=%2Fenvs" {
			t.Fatalf("status %d %q, want a redirect to sign in", r.status, r.header.Get("Location"))
		}
	})
	t.Run("fail/the cookie on a connection without a card", func(t *testing.T) {
		thief := th.card(t, nil)
		thief.session = card.session
		if r := thief.get(t, "/envs"); r.status != http.StatusSeeOther {
			t.Fatalf("status %d, want a redirect to sign in", r.status)
		}
	})
	t.Run("fail/the link again", func(t *testing.T) {
		r := th.card(t, p.Valid).get(t, "/invitations/"+token)
		if r.status != http.StatusConflict {
			t.Fatalf("status %d, want 409", r.status)
		}
		mustContain(t, r.body, "この招待は使用済みです", `href="/login"`)
	})
	t.Run("fail/a card already registered to someone else", func(t *testing.T) {
		_, other := th.invite(t, authz.TenantMember, "lg-011002", "別人 次郎")
		r := th.card(t, p.Valid).post(t, "/invitations/"+other, url.Values{})
		if r.status != http.StatusConflict {
			t.Fatalf("status %d, want 409\n%s", r.status, r.body)
		}
		mustContain(t, r.body, "このカードは登録済みです")
	})
	t.Run("fail/an invitation with a refused certificate", func(t *testing.T) {
		_, other := th.invite(t, authz.TenantMember, "lg-011002", "期限 三郎")
		r := th.card(t, p.Expired).post(t, "/invitations/"+other, url.Values{})
		if r.status != http.StatusForbidden {
			t.Fatalf("status %d, want 403", r.status)
		}
		mustContain(t, r.body, "有効期限が切れています")
	})
	t.Run("fail/sign in with a card nobody registered", func(t *testing.T) {
		r := th.card(t, p.ValidRSA).post(t, "/login", url.Values{"next": {"/envs"}})
		if r.status != http.StatusForbidden {
			t.Fatalf("status %d, want 403", r.status)
		}
		mustContain(t, r.body, "このカードではログインできません", "このカードは hatoba に登録されていません")
	})
	t.Run("fail/sign in with a revoked card", func(t *testing.T) {
		if r := th.card(t, p.Revoked).post(t, "/login", url.Values{}); r.status != http.StatusForbidden {
			t.Fatalf("status %d, want 403", r.status)
		}
	})
	t.Run("fail/sign in posted by another site", func(t *testing.T) {
		r := th.card(t, p.Valid).post(t, "/login", url.Values{}, "Origin", "https://evil.example")
		if r.status != http.StatusForbidden || r.header.Get("Set-Cookie") != "" {
			t.Fatalf("status %d, Set-Cookie %q", r.status, r.header.Get("Set-Cookie"))
		}
	})
	t.Run("ok/sign in again, and next stays on the site", func(t *testing.T) {
		again := th.card(t, p.Valid)
		r := again.post(t, "/login", url.Values{"next": {"//evil.example/steal"}})
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login/second-factor" {
			t.Fatalf("status %d Location %q", r.status, r.header.Get("Location"))
		}
		r = again.post(t, "/login", url.Values{"next": {"/envs?state=ready"}})
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login/second-factor?next=%2Fenvs%3Fstate%3Dready" {
			t.Fatalf("status %d Location %q", r.status, r.header.Get("Location"))
		}
		if again.session == card.session {
			t.Fatal("signing in again reused the session")
		}
	})
	t.Run("ok/a member goes straight to next", func(t *testing.T) {
		_, inv := th.invite(t, authz.TenantMember, "lg-011002", "利用 四郎")
		m := th.card(t, p.EmptySubject)
		if r := m.post(t, "/invitations/"+inv, url.Values{}); r.status != http.StatusSeeOther {
			t.Fatalf("register: %d\n%s", r.status, r.body)
		}
		m2 := th.card(t, p.EmptySubject)
		r := m2.post(t, "/login", url.Values{"next": {"/envs?state=ready"}})
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/envs?state=ready" {
			t.Fatalf("status %d Location %q", r.status, r.header.Get("Location"))
		}
		mustContain(t, m2.get(t, "/envs").body, "利用 四郎")
	})
}
