package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/identity"
)

func TestSignedOutVisitor(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	tests := []struct {
		name    string
		method  string
		path    string
		cookie  string
		status  int
		loc     string
		content []string
	}{
		{"fail/page goes to sign-in and comes back", "GET", "/envs?state=ready", "", http.StatusSeeOther, "/login?next=%2Fenvs%3Fstate%3Dready", nil},
		{"fail/dashboard", "GET", "/", "", http.StatusSeeOther, "/login?next=%2F", nil},
		{"fail/form post is told to sign in", "POST", "/envs", "", http.StatusUnauthorized, "", []string{"ログインしてください", `href="/login"`}},
		{"fail/unknown session", "GET", "/envs", "hbs_forged", http.StatusSeeOther, "/login?next=%2Fenvs", nil},
		{"ok/sign-in page", "GET", "/login", "", http.StatusOK, "", []string{"ログイン", "マイナンバーカード", "このページは HTTPS で開かれていません", "https:// で始まるアドレス"}},
		{"ok/404 for nobody", "GET", "/nowhere", "", http.StatusNotFound, "", []string{"ページが見つかりません", `href="/login"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := h.anonymous(t)
			b.session = tt.cookie
			var r response
			if tt.method == "GET" {
				r = b.get(t, tt.path)
			} else {
				r = b.post(t, tt.path, url.Values{"csrf_token": {"x"}})
			}
			if r.status != tt.status || r.header.Get("Location") != tt.loc {
				t.Fatalf("%s %s: %d %q, want %d %q\n%s", tt.method, tt.path, r.status, r.header.Get("Location"), tt.status, tt.loc, r.body)
			}
			mustContain(t, r.body, tt.content...)
			mustNotContain(t, r.body, `class="site-nav"`, `name="csrf-token"`)
			if tt.cookie != "" && b.session != "" {
				t.Error("a stale session cookie was not cleared")
			}
		})
	}
}

// An API token is a bearer credential for the CLI: pasted into the
// console's cookie it opens nothing.
func TestAPITokenIsNotAConsoleSession(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	_, inv := h.invite(t, authz.TenantMember, "lg-011002", "トークン 太郎")
	cert := testCert()
	if _, err := h.ids.Accept(ctx, inv, cert); err != nil {
		t.Fatal(err)
	}
	_, token, _, err := h.ids.SignIn(ctx, cert, identity.APIToken, "test")
	if err != nil {
		t.Fatal(err)
	}
	b := h.anonymous(t)
	b.session = token
	if r := b.get(t, "/envs"); r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/login?") {
		t.Fatalf("an API token as the session cookie: %d %q", r.status, r.header.Get("Location"))
	}
}

func TestSessionExpires(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	b := h.as(t, authz.TenantMember, "lg-011002")
	if r := b.get(t, "/envs"); r.status != http.StatusOK {
		t.Fatalf("fresh session: %d", r.status)
	}
	h.clock.Add(sessionTTL - time.Minute)
	if r := b.get(t, "/envs"); r.status != http.StatusOK {
		t.Fatalf("a minute before the end: %d", r.status)
	}
	h.clock.Add(2 * time.Minute)
	r := b.get(t, "/envs")
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login?next=%2Fenvs" {
		t.Fatalf("expired session: %d %q", r.status, r.header.Get("Location"))
	}
	if b.session != "" {
		t.Error("the expired session's cookie was not cleared")
	}
}

func TestLogout(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	b := h.as(t, authz.TenantAdmin, "lg-011002")
	page := b.get(t, "/")
	mustContain(t, page.body, `action="/logout"`, "ログアウト", "試験 tenant-admin", "団体管理者")
	secret := b.session

	t.Run("fail/without the token", func(t *testing.T) {
		r := b.post(t, "/logout", url.Values{})
		if r.status != http.StatusForbidden {
			t.Fatalf("status %d, want 403", r.status)
		}
		if _, _, err := h.ids.Authenticate(context.Background(), secret); err != nil {
			t.Fatalf("a refused sign-out ended the session: %v", err)
		}
	})
	t.Run("ok/signs out", func(t *testing.T) {
		r := b.post(t, "/logout", formFields(t, page.body))
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login?notice=signed_out" {
			t.Fatalf("status %d Location %q", r.status, r.header.Get("Location"))
		}
		if ck := r.header.Get("Set-Cookie"); !strings.Contains(ck, "__Host-hatoba_session=;") || !strings.Contains(ck, "Max-Age=0") {
			t.Errorf("Set-Cookie %q does not clear the session", ck)
		}
		if _, _, err := h.ids.Authenticate(context.Background(), secret); err == nil {
			t.Fatal("the session still authenticates after signing out")
		}
		mustContain(t, b.get(t, "/login?notice=signed_out").body, "ログアウトしました")
		// The old cookie, replayed, opens nothing.
		old := h.anonymous(t)
		old.session = secret
		if r := old.get(t, "/"); r.status != http.StatusSeeOther {
			t.Fatalf("replayed cookie after sign-out: %d", r.status)
		}
	})
}

// Roles that need a second factor reach nothing but the pages that give
// it, and signing out, until the session is confirmed.
func TestSecondFactorGate(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	en := h.request(t, "lg-011002", "税務システム", env.Level3)
	admin := h.person(t, authz.TenantAdmin, "lg-011002", false)
	auditor := h.person(t, authz.CentralAuditor, "", false)
	member := h.person(t, authz.TenantMember, "lg-011002", false)

	tests := []struct {
		name   string
		b      *browser
		method string
		path   string
		status int
		loc    string
	}{
		{"fail/admin page", admin, "GET", "/envs?state=requested", http.StatusSeeOther, "/login/second-factor?next=%2Fenvs%3Fstate%3Drequested"},
		{"fail/admin dashboard", admin, "GET", "/", http.StatusSeeOther, "/login/second-factor"},
		{"fail/admin action", admin, "POST", "/envs/" + en.ID + "/retry", http.StatusForbidden, ""},
		{"fail/auditor queue", auditor, "GET", "/approvals", http.StatusSeeOther, "/login/second-factor?next=%2Fapprovals"},
		{"fail/admin account", admin, "GET", "/account", http.StatusSeeOther, "/login/second-factor?next=%2Faccount"},
		{"ok/the second-factor page", admin, "GET", "/login/second-factor?next=/envs", http.StatusOK, ""},
		{"ok/begin registering a first key", admin, "JSON", "/webauthn/register/begin", http.StatusOK, ""},
		{"ok/member needs none", member, "GET", "/envs", http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r response
			switch tt.method {
			case "GET":
				r = tt.b.get(t, tt.path)
			case "JSON":
				r = tt.b.postJSON(t, tt.path, []byte(`{}`))
			default:
				r = tt.b.post(t, tt.path, url.Values{csrfField: {tt.b.csrf()}})
			}
			if r.status != tt.status || r.header.Get("Location") != tt.loc {
				t.Fatalf("%s %s: %d %q, want %d %q\n%s", tt.method, tt.path, r.status, r.header.Get("Location"), tt.status, tt.loc, r.body)
			}
			if tt.status == http.StatusForbidden {
				mustContain(t, r.body, "先にセキュリティキーで確認してください")
			}
		})
	}
	page := admin.get(t, "/login/second-factor?next=/envs")
	mustContain(t, page.body, `data-webauthn="register"`, `data-webauthn-redirect="/envs"`, `name="csrf-token"`,
		"/static/webauthn.js?v=", "この役割では、カードに加えてセキュリティキー", `action="/logout"`)
	// No navigation while waiting: nothing there would open yet.
	mustNotContain(t, page.body, `class="site-nav"`, "あとで登録する")
	mustContain(t, member.get(t, "/login/second-factor").body, "あとで登録する")
	if r := admin.post(t, "/logout", url.Values{csrfField: {admin.csrf()}}); r.status != http.StatusSeeOther {
		t.Fatalf("signing out before the second factor: %d", r.status)
	}
}

func TestCrossSiteRequests(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, inv := h.invite(t, authz.TenantMember, "lg-011002", "招待 花子")
	b := h.browser(t)
	v := requestFormValues(t, b, "税務システム")
	tests := []struct {
		name    string
		b       *browser
		path    string
		form    url.Values
		header  []string
		refused bool
	}{
		{"fail/login from another site", h.anonymous(t), "/login", url.Values{}, []string{"Origin", "https://evil.example"}, true},
		{"fail/login from a sibling site", h.anonymous(t), "/login", url.Values{}, []string{"Sec-Fetch-Site", "same-site"}, true},
		{"fail/invitation from another site", h.anonymous(t), "/invitations/" + inv, url.Values{}, []string{"Sec-Fetch-Site", "cross-site"}, true},
		{"fail/signed-in form from another site, even with the token", b, "/envs", v, []string{"Origin", "https://evil.example"}, true},
		{"ok/login from the console's own page", h.anonymous(t), "/login", url.Values{}, []string{"Sec-Fetch-Site", "same-origin"}, false},
		{"ok/login, Origin of the public URL", h.anonymous(t), "/login", url.Values{}, []string{"Origin", "https://console.hatoba.test"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.b.post(t, tt.path, tt.form, tt.header...)
			csrfPage := strings.Contains(r.body, "フォームを送信できませんでした")
			if csrfPage != tt.refused || (tt.refused && r.status != http.StatusForbidden) {
				t.Fatalf("status %d, CSRF page %v; want refused=%v\n%s", r.status, csrfPage, tt.refused, r.body)
			}
		})
	}
	if n := h.countEnvs(t); n != 0 {
		t.Fatalf("%d environments after a cross-site post, want 0", n)
	}
}

// The webauthn endpoints take the token in a header, as webauthn.js sends it.
func TestCSRFOnJSONEndpoints(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	b := h.as(t, authz.TenantMember, "lg-011002")
	other := h.as(t, authz.TenantMember, "lg-011002")
	tests := []struct {
		name   string
		token  string
		status int
	}{
		{"fail/no token", "", http.StatusForbidden},
		{"fail/another session's token", other.csrf(), http.StatusForbidden},
		{"ok/own token", b.csrf(), http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := b.postJSON(t, "/webauthn/register/begin", []byte(`{}`), csrfHeader, tt.token)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.status != http.StatusOK && !strings.Contains(r.header.Get("Content-Type"), "problem+json") {
				t.Errorf("refusal is %q, want a problem document for webauthn.js", r.header.Get("Content-Type"))
			}
		})
	}
}

func TestSafeNext(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"/envs", "/envs", true},
		{"/envs?state=ready&cursor=x", "/envs?state=ready&cursor=x", true},
		{"/orgs/lg-011002", "/orgs/lg-011002", true},
		{"/login", "/", true},
		{"/login/second-factor?next=/x", "/", true},
		{"/logout", "/", true},
		{"", "", false},
		{"envs", "", false},
		{"//evil.example/", "", false},
		{"/\\evil.example", "", false},
		{"/%2F/evil.example", "/%2F/evil.example", true}, // a path on this site
		{"https://evil.example/", "", false},
		{"javascript:alert(1)", "", false},
		{"/\t/evil.example", "", false},
		{"/ok\r\nSet-Cookie: x", "", false},
		{"/a\\b", "", false},
	}
	for _, tt := range tests {
		got, ok := safeNext(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("safeNext(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// A signed-in person opening the sign-in page goes on to next, which must
// stay on this site.
func TestLoginPageRedirects(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	b := h.as(t, authz.TenantMember, "lg-011002")
	tests := []struct{ next, want string }{
		{"/envs?state=ready", "/envs?state=ready"},
		{"https://evil.example/", "/"},
		{"//evil.example/x", "/"},
		{"/\\evil.example", "/"},
		{"", "/"},
	}
	for _, tt := range tests {
		r := b.get(t, "/login?next="+url.QueryEscape(tt.next))
		if r.status != http.StatusSeeOther || r.header.Get("Location") != tt.want {
			t.Errorf("next %q: %d %q, want 303 %q", tt.next, r.status, r.header.Get("Location"), tt.want)
		}
	}
	// Signed out, the page keeps only a safe next for its links and form.
	r := h.anonymous(t).get(t, "/login?next="+url.QueryEscape("//evil.example"))
	mustContain(t, r.body, `<a class="button button--secondary" href="/login">`)
	mustNotContain(t, r.body, `value="//evil.example"`, `href="//evil.example`)
}
