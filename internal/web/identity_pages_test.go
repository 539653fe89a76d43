package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/mfa"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// ceremony runs one WebAuthn ceremony through the console's endpoints with
// a software key, as webauthn.js does with a real one.
func ceremony(t *testing.T, b *browser, key *softKey, kind, name string) response {
	t.Helper()
	begin := b.postJSON(t, "/webauthn/"+kind+"/begin", []byte(`{}`))
	if begin.status != http.StatusOK {
		return begin
	}
	var reply mfa.BeginReply
	if err := json.Unmarshal([]byte(begin.body), &reply); err != nil {
		t.Fatalf("begin reply %s: %v", begin.body, err)
	}
	var cred []byte
	if kind == "register" {
		cred = key.Create(reply.Options)
	} else {
		key.Counter++
		cred = key.Get(reply.Options)
	}
	body, err := json.Marshal(mfa.FinishRequest{Ceremony: reply.Ceremony, Credential: cred, Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return b.postJSON(t, "/webauthn/"+kind+"/finish", body)
}

// auditCount counts the audit entries queued for action by actor.
func (h *harness) auditCount(t *testing.T, action, actor string) int {
	t.Helper()
	var n int
	err := h.api.DB.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM audit_queue WHERE action = $1 AND actor = $2`, action, actor).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSecurityKeys(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	admin := h.person(t, authz.TenantAdmin, "lg-011002", false)
	key := newSoftKey(t, h.mfaOrigin)

	// First sign-in: enrolling the first key confirms the session.
	if r := ceremony(t, admin, key, "register", "青いキー"); r.status != http.StatusOK {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	if r := admin.get(t, "/envs"); r.status != http.StatusOK {
		t.Fatalf("after enrolling: %d %q", r.status, r.header.Get("Location"))
	}
	if n := h.auditCount(t, "mfa.credential.register", admin.person.ID); n != 1 {
		t.Errorf("%d audit entries for the registration, want 1", n)
	}

	// The next sign-in has the card but not yet the key.
	ctx := context.Background()
	_, secret, _, err := h.ids.SignIn(ctx, admin.cert, "console", "test")
	if err != nil {
		t.Fatal(err)
	}
	next := h.anonymous(t)
	next.session, next.person = secret, admin.person
	t.Run("fail/a second key without the first", func(t *testing.T) {
		r := ceremony(t, next, newSoftKey(t, h.mfaOrigin), "register", "盗まれたカードのキー")
		if r.status != http.StatusForbidden {
			t.Fatalf("status %d, want 403: %s", r.status, r.body)
		}
		mustContain(t, r.body, "登録済みのセキュリティキーでこのログインを確認してください")
	})
	t.Run("ok/the page asks for the key", func(t *testing.T) {
		mustContain(t, next.get(t, "/login/second-factor").body, `data-webauthn="assert"`, "セキュリティキーで確認する")
	})
	t.Run("ok/assert; a replayed answer is refused", func(t *testing.T) {
		begin := next.postJSON(t, "/webauthn/assert/begin", []byte(`{}`))
		var reply mfa.BeginReply
		if err := json.Unmarshal([]byte(begin.body), &reply); err != nil {
			t.Fatalf("begin %d %s: %v", begin.status, begin.body, err)
		}
		key.Counter++
		body, err := json.Marshal(mfa.FinishRequest{Ceremony: reply.Ceremony, Credential: key.Get(reply.Options)})
		if err != nil {
			t.Fatal(err)
		}
		if r := next.postJSON(t, "/webauthn/assert/finish", body); r.status != http.StatusOK || r.body != "{}\n" {
			t.Fatalf("assert: %d %q", r.status, r.body)
		}
		if r := next.get(t, "/envs"); r.status != http.StatusOK {
			t.Fatalf("after asserting: %d", r.status)
		}
		if r := next.postJSON(t, "/webauthn/assert/finish", body); r.status != http.StatusConflict {
			t.Fatalf("replayed: %d, want 409: %s", r.status, r.body)
		}
	})

	t.Run("ok/account lists keys; adding one does not renew the confirmation", func(t *testing.T) {
		_, before, err := h.ids.Authenticate(ctx, next.session)
		if err != nil {
			t.Fatal(err)
		}
		h.clock.Add(time.Minute)
		if r := ceremony(t, next, newSoftKey(t, h.mfaOrigin), "register", "予備のキー"); r.status != http.StatusOK {
			t.Fatalf("second key: %d %s", r.status, r.body)
		}
		_, after, err := h.ids.Authenticate(ctx, next.session)
		if err != nil {
			t.Fatal(err)
		}
		if !after.SecondFactorAt.Equal(before.SecondFactorAt) {
			t.Errorf("adding a key moved the confirmation from %v to %v", before.SecondFactorAt, after.SecondFactorAt)
		}
		page := next.get(t, "/account")
		mustContain(t, page.body, "青いキー", "予備のキー", "青いキー を削除する", `data-webauthn="register"`, "札幌市")
	})

	t.Run("ok/remove a key, never the last", func(t *testing.T) {
		creds, err := h.mfa.Credentials(ctx, admin.person.ID)
		if err != nil || len(creds) != 2 {
			t.Fatalf("credentials %+v, %v", creds, err)
		}
		form := url.Values{csrfField: {next.csrf()}}
		r := next.post(t, "/account/keys/"+creds[1].ID+"/remove", form)
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/account?notice=key_removed" {
			t.Fatalf("remove: %d %q", r.status, r.header.Get("Location"))
		}
		mustContain(t, next.get(t, r.header.Get("Location")).body, "セキュリティキーを削除しました")
		if n := h.auditCount(t, "mfa.credential.remove", admin.person.ID); n != 1 {
			t.Errorf("%d audit entries for the removal, want 1", n)
		}
		r = next.post(t, "/account/keys/"+creds[0].ID+"/remove", form)
		if r.status != http.StatusConflict {
			t.Fatalf("removing the last key: %d, want 409", r.status)
		}
		mustContain(t, r.body, "これは唯一のセキュリティキー")
		// Again (a second click): still there, still refused; an unknown
		// key is simply gone.
		if r := next.post(t, "/account/keys/AAAA/remove", form); r.status != http.StatusSeeOther {
			t.Fatalf("removing an unknown key: %d", r.status)
		}
	})

	t.Run("fail/assert without a key", func(t *testing.T) {
		m := h.as(t, authz.TenantMember, "lg-011002")
		r := m.postJSON(t, "/webauthn/assert/begin", []byte(`{}`))
		if r.status != http.StatusConflict {
			t.Fatalf("status %d, want 409: %s", r.status, r.body)
		}
	})
}

func TestInvitationStates(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	_, open := h.invite(t, authz.TenantMember, "lg-011002", "招待 一郎")
	_, used := h.invite(t, authz.TenantMember, "lg-011002", "使用 二郎")
	if _, err := h.ids.Accept(ctx, used, testCert()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		token  string
		status int
		want   []string
	}{
		{"ok/open, but no card over plain HTTP", open, http.StatusOK, []string{"カードを登録する", "招待 一郎", "団体利用者", "札幌市", "このページは HTTPS で開かれていません"}},
		{"fail/unknown", "hbi_nothing", http.StatusNotFound, []string{"この招待リンクは無効です"}},
		{"fail/too long", strings.Repeat("x", 300), http.StatusNotFound, []string{"この招待リンクは無効です"}},
		{"fail/used", used, http.StatusConflict, []string{"この招待は使用済みです"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.anonymous(t).get(t, "/invitations/"+tt.token)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d\n%s", r.status, tt.status, r.body)
			}
			mustContain(t, r.body, tt.want...)
		})
	}
	if r := h.anonymous(t).post(t, "/invitations/"+open, url.Values{}); r.status != http.StatusForbidden {
		t.Fatalf("registering without a card: %d, want 403", r.status)
	}
	h.clock.Add(73 * time.Hour)
	r := h.anonymous(t).get(t, "/invitations/"+open)
	if r.status != http.StatusConflict {
		t.Fatalf("expired: %d", r.status)
	}
	mustContain(t, r.body, "この招待は期限切れです")
}

var invitationLink = regexp.MustCompile(`value="(https://console\.hatoba\.test/invitations/hbi_[A-Za-z0-9_-]+)"`)

func TestPeople(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	op := h.as(t, authz.CentralOperator, "")
	admin := h.as(t, authz.TenantAdmin, "lg-011002")
	h.as(t, authz.TenantMember, "nat-digital")

	t.Run("ok/an operator invites a tenant's first administrator", func(t *testing.T) {
		page := op.get(t, "/people")
		mustContain(t, page.body, "招待する", `<option value="tenant-admin" selected>`, "中央監査担当")
		mustNotContain(t, page.body, `<option value="tenant-member"`)
		v := formFields(t, page.body)
		v.Set("role", "tenant-admin")
		v.Set("org_id", "nat-digital")
		v.Set("display_name", "デジタル 太郎")
		v.Set("email", "taro@digital.go.jp")
		r := op.post(t, "/people", v)
		if r.status != http.StatusOK {
			t.Fatalf("status %d\n%s", r.status, r.body)
		}
		m := invitationLink.FindStringSubmatch(r.body)
		if m == nil {
			t.Fatalf("no invitation link on the page:\n%s", r.body)
		}
		mustContain(t, r.body, "デジタル 太郎 さんを招待しました", "表示されるのはこの一度だけです", "readonly")
		// The link works, and is not shown again.
		token := strings.TrimPrefix(m[1], "https://console.hatoba.test/invitations/")
		mustContain(t, h.anonymous(t).get(t, "/invitations/"+token).body, "デジタル 太郎")
		again := op.get(t, "/people")
		mustContain(t, again.body, "デジタル 太郎", "招待中")
		mustNotContain(t, again.body, token)
	})

	t.Run("ok/an administrator sees and invites within its subtree", func(t *testing.T) {
		page := admin.get(t, "/people")
		mustContain(t, page.body, "試験 tenant-admin", `value="lg-011002"`)
		mustNotContain(t, page.body, "試験 tenant-member", "試験 central-operator")
		v := formFields(t, page.body)
		v.Set("role", "tenant-member")
		v.Set("org_id", "lg-011011") // a ward under the city
		v.Set("display_name", "中央区 職員")
		if r := admin.post(t, "/people", v); r.status != http.StatusOK || invitationLink.FindString(r.body) == "" {
			t.Fatalf("status %d\n%s", r.status, r.body)
		}
	})

	invalid := []struct {
		name, role, org, dname, email string
		status                        int
		want                          string
	}{
		{"fail/a foreign organisation", "tenant-member", "nat-digital", "越境 者", "", http.StatusForbidden, `id="org_id-error"`},
		{"fail/a central role", "central-auditor", "", "中央 者", "", http.StatusForbidden, "on the platform itself"},
		{"fail/no name", "tenant-member", "lg-011002", " ", "", http.StatusUnprocessableEntity, `id="display_name-error"`},
		{"fail/bad e-mail", "tenant-member", "lg-011002", "メール 者", "not-an-address", http.StatusUnprocessableEntity, `id="email-error"`},
		{"fail/no organisation", "tenant-member", "", "所属 なし", "", http.StatusUnprocessableEntity, `id="org_id-error"`},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			v := url.Values{csrfField: {admin.csrf()}, "role": {tt.role}, "org_id": {tt.org}, "display_name": {tt.dname}, "email": {tt.email}}
			r := admin.post(t, "/people", v)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d\n%s", r.status, tt.status, r.body)
			}
			mustContain(t, r.body, tt.want, `class="error-summary"`)
			if invitationLink.FindString(r.body) != "" {
				t.Fatal("a refused invitation shows a link")
			}
		})
	}
	t.Run("fail/a member may not see people", func(t *testing.T) {
		if r := h.as(t, authz.TenantMember, "lg-011002").get(t, "/people"); r.status != http.StatusForbidden {
			t.Fatalf("status %d, want 403", r.status)
		}
	})
}

// A tenant sees its own subtree and nothing of other tenants: listings,
// counts, the organisation tree, and the pages of foreign resources, which
// read exactly like missing ones.
func TestTenantScope(t *testing.T) {
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			tenantScope(t, newHarnessOn(t, d))
		})
	}
}

func tenantScope(t *testing.T, h *harness) {
	own := h.request(t, "lg-011002", "札幌の台帳", env.Level1)
	ward := h.request(t, "lg-011011", "中央区の台帳", env.Level3)
	foreign := h.request(t, "nat-digital", "秘密の台帳", env.Level3)
	m := h.as(t, authz.TenantMember, "lg-011002")

	list := m.get(t, "/envs")
	mustContain(t, list.body, own.ID, ward.ID)
	mustNotContain(t, list.body, foreign.ID, "秘密の台帳")

	dash := m.get(t, "/")
	mustContain(t, dash.body, "中央区の台帳", "環境は合計 2 件、登録されている組織は 2 件です。")
	mustNotContain(t, dash.body, "秘密の台帳", `href="/approvals"`, `href="/envs/new"`, `href="/people"`)

	orgs := m.get(t, "/orgs")
	mustContain(t, orgs.body, "札幌市", "札幌市中央区")
	mustNotContain(t, orgs.body, "デジタル庁", `href="/orgs/lg-010006"`)

	org := m.get(t, "/orgs/lg-011002")
	mustContain(t, org.body, "<li>北海道</li>", "札幌の台帳")
	mustNotContain(t, org.body, `href="/orgs/lg-010006"`, "この組織の環境を申請する")

	for _, path := range []string{"/envs/" + foreign.ID, "/orgs/nat-digital", "/orgs/lg-010006"} {
		r := m.get(t, path)
		if r.status != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", path, r.status)
		}
	}
	// A foreign environment and a missing one read alike.
	missing := m.get(t, "/envs/env-aaaaaaaaaaaaaaaa")
	foreignPage := m.get(t, "/envs/"+foreign.ID)
	if strings.Contains(foreignPage.body, foreign.ID) != strings.Contains(missing.body, "env-aaaaaaaaaaaaaaaa") {
		t.Error("a foreign environment's page differs in shape from a missing one's")
	}

	// The administrator requests for its own subtree only; the auditor
	// sees the queue but may not decide.
	a := h.as(t, authz.TenantAdmin, "lg-011002")
	form := a.get(t, "/envs/new")
	mustContain(t, form.body, `value="lg-011002"`)
	picker := a.get(t, "/envs/new?org_q="+url.QueryEscape("デジタル"))
	mustContain(t, picker.body, "該当する組織はありません")
	aud := h.as(t, authz.CentralAuditor, "")
	queue := aud.get(t, "/approvals")
	mustContain(t, queue.body, foreign.ID, ward.ID)
	mustNotContain(t, queue.body, `/approve"`, `/reject"`)
	// An operator without a grant is not offered the request form.
	op := h.as(t, authz.CentralOperator, "")
	mustNotContain(t, op.get(t, "/").body, `href="/envs/new"`)
	if r := op.get(t, "/envs/new"); r.status != http.StatusForbidden {
		t.Errorf("the request form for an operator without a grant: %d, want 403", r.status)
	}
}

// The header names the person and offers what the role may use.
func TestNavigationByRole(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	tests := []struct {
		role       authz.Role
		org        string
		want, lack []string
	}{
		{authz.CentralOperator, "", []string{`href="/approvals"`, `href="/people"`, `href="/orgs"`, "中央運用担当"}, []string{`href="/envs/new"`}},
		{authz.CentralAuditor, "", []string{`href="/approvals"`, `href="/people"`, "中央監査担当"}, []string{`href="/envs/new"`}},
		{authz.TenantAdmin, "lg-011002", []string{`href="/envs/new"`, `href="/people"`, "団体管理者"}, []string{`href="/approvals"`}},
		{authz.TenantMember, "lg-011002", []string{`href="/envs"`, `href="/account"`, "団体利用者"}, []string{`href="/approvals"`, `href="/people"`, `href="/envs/new"`}},
	}
	for _, tt := range tests {
		t.Run("ok/"+string(tt.role), func(t *testing.T) {
			b := h.as(t, tt.role, tt.org)
			r := b.get(t, "/account")
			if r.status != http.StatusOK {
				t.Fatalf("status %d", r.status)
			}
			nav := r.body[strings.Index(r.body, "<header"):strings.Index(r.body, "</header>")]
			mustContain(t, nav, append(tt.want, "試験 "+string(tt.role), `action="/logout"`, `aria-current="page"`)...)
			mustNotContain(t, nav, tt.lack...)
			mustContain(t, r.body, b.person.ID, `<meta name="csrf-token" content="`+b.csrf()+`">`)
		})
	}
}
