package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/vending"
)

func TestPagesRender(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ready := h.request(t, "lg-011002", "住民記録システム", env.Level2)
	waiting := h.request(t, "nat-digital", "秘密の台帳", env.Level3)
	h.move(t, ready.ID, env.Approved, env.Provisioning, "")
	h.move(t, ready.ID, env.Provisioning, env.Ready, "")

	pages := []struct {
		name   string
		path   string
		ja, en []string
	}{
		{"ok/dashboard", "/", []string{"状態別の環境数", "承認待ちの申請", "秘密の台帳"}, []string{"Environments by state", "Requests waiting for approval"}},
		{"ok/orgs", "/orgs", []string{"都道府県と市区町村", "北海道", "札幌市中央区", "デジタル庁", "地方公共団体情報システム機構"}, []string{"Prefectures and municipalities", "Hokkaido", "Digital Agency", "J-LIS"}},
		{"ok/org", "/orgs/lg-011002", []string{"札幌市", "さっぽろし", "011002", "北海道", "札幌市中央区", "住民記録システム"}, []string{"Sapporo City", "Local-government code", "Chuo Ward, Sapporo"}},
		{"ok/envs", "/envs", []string{"環境一覧", "住民記録システム", "利用可能", "承認待ち"}, []string{"Environments", "Ready", "Waiting for approval"}},
		{"ok/envs filtered", "/envs?state=ready", []string{"住民記録システム"}, []string{"Ready"}},
		{"ok/new", "/envs/new", []string{"環境を申請", "機密性1", "機密性2", "機密性3", "sim"}, []string{"Request an environment", "Level 3 (機密性3)"}},
		{"ok/new with org", "/envs/new?org_id=lg-011002&org_q=さっぽろ", []string{"選択中の組織", "札幌市"}, []string{"Selected organisation", "Sapporo City"}},
		{"ok/env", "/envs/" + ready.ID, []string{"住民記録システム", "払い出しの手順", "アカウントの作成", "利用開始", "履歴"}, []string{"Vending steps", "Create the account", "History"}},
		{"ok/env waiting", "/envs/" + waiting.ID, []string{"承認が必要な理由", "承認する", "却下する"}, []string{"Why this needs approval", "Approve", "Reject"}},
		{"ok/approvals", "/approvals", []string{"承認待ち", "秘密の台帳", "却下の理由"}, []string{"Approvals", "Reason for rejection"}},
	}
	for _, p := range pages {
		for _, l := range languages {
			t.Run(p.name+"/"+string(l), func(t *testing.T) {
				t.Parallel()
				sep := "?"
				if strings.Contains(p.path, "?") {
					sep = "&"
				}
				r := h.browser(t).get(t, p.path+sep+"lang="+string(l))
				if r.status != http.StatusOK {
					t.Fatalf("status %d, want 200\n%s", r.status, r.body)
				}
				if ct := r.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
					t.Errorf("Content-Type %q", ct)
				}
				want := p.ja
				if l == en {
					want = p.en
				}
				mustContain(t, r.body, append(want, `<html lang="`+string(l)+`">`, `href="#main"`, `<main id="main"`)...)
			})
		}
	}
}

func TestLanguage(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	tests := []struct {
		name   string
		header []string
		path   string
		want   lang
	}{
		{"ok/default is Japanese", nil, "/", ja},
		{"ok/accept-language en", []string{"Accept-Language", "en-GB,en;q=0.9"}, "/", en},
		{"ok/accept-language weights", []string{"Accept-Language", "fr, en;q=0.5, ja;q=0.8"}, "/", ja},
		{"ok/accept-language unsupported only", []string{"Accept-Language", "fr, de"}, "/", ja},
		{"ok/query beats header", []string{"Accept-Language", "en"}, "/?lang=ja", ja},
		{"ok/cookie beats header", []string{"Accept-Language", "ja", "Cookie", "lang=en"}, "/", en},
		{"ok/unknown query ignored", nil, "/?lang=fr", ja},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := h.browser(t).get(t, tt.path, tt.header...)
			mustContain(t, r.body, `<html lang="`+string(tt.want)+`">`)
		})
	}

	t.Run("ok/switch is remembered", func(t *testing.T) {
		t.Parallel()
		b := h.browser(t)
		r := b.get(t, "/envs?lang=en&state=ready")
		ck := r.header.Get("Set-Cookie")
		for _, want := range []string{"lang=en", "SameSite=Lax", "Path=/"} {
			if !strings.Contains(ck, want) {
				t.Errorf("Set-Cookie %q lacks %q", ck, want)
			}
		}
		// The switch back keeps the page and its filter.
		mustContain(t, r.body, `href="/envs?lang=ja&amp;state=ready"`, `lang="ja"`, "日本語")
		r = b.get(t, "/approvals")
		mustContain(t, r.body, `<html lang="en">`)
	})
}

func TestFromAcceptLanguage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		header string
		want   lang
		ok     bool
	}{
		{"", "", false},
		{"ja", ja, true},
		{"EN-us", en, true},
		{"en;q=0.4, ja;q=0.6", ja, true},
		{"ja;q=0, en", en, true},
		{"ja;q=bogus, en;q=0.1", en, true},
		{"*", "", false},
		{"ja, en", ja, true},
		{"en, ja", en, true},
	}
	for _, tt := range tests {
		got, ok := fromAcceptLanguage(tt.header)
		if got != tt.want || ok != tt.ok {
			t.Errorf("fromAcceptLanguage(%q) = %q, %v; want %q, %v", tt.header, got, ok, tt.want, tt.ok)
		}
	}
}

func TestOrgSearch(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	tests := []struct {
		name    string
		q       string
		want    []string
		notWant []string
	}{
		{"ok/hiragana", "さっぽろ", []string{`class="match">札幌市</a>`, "北海道"}, []string{"デジタル庁"}},
		{"ok/katakana finds hiragana reading", "サッポロ", []string{`class="match">札幌市</a>`}, []string{"デジタル庁"}},
		{"ok/kanji", "中央区", []string{`class="match">札幌市中央区</a>`, "札幌市", "北海道"}, nil},
		{"ok/english", "digital", []string{`class="match">デジタル庁</a>`}, []string{"北海道"}},
		{"ok/lg code", "011002", []string{`class="match">札幌市</a>`}, nil},
		{"ok/quasi-public", "J-LIS", []string{`class="match">地方公共団体情報システム機構</a>`}, nil},
		{"ok/nothing", "存在しない町", []string{"該当する組織はありません"}, []string{"北海道"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := h.browser(t).get(t, "/orgs?q="+url.QueryEscape(tt.q))
			if r.status != http.StatusOK {
				t.Fatalf("status %d", r.status)
			}
			mustContain(t, r.body, tt.want...)
			for _, nw := range tt.notWant {
				if strings.Contains(r.body, nw) {
					t.Errorf("page shows %q", nw)
				}
			}
		})
	}

	t.Run("ok/picker on the request form", func(t *testing.T) {
		t.Parallel()
		r := h.browser(t).get(t, "/envs/new?org_q="+url.QueryEscape("ほっかいどう"))
		mustContain(t, r.body, `href="/envs/new?org_id=lg-010006&amp;org_q=`)
	})

	t.Run("fail/control character", func(t *testing.T) {
		t.Parallel()
		r := h.browser(t).get(t, "/orgs?q="+url.QueryEscape("a\x01b"))
		if r.status != http.StatusBadRequest {
			t.Fatalf("status %d, want 400", r.status)
		}
		mustContain(t, r.body, `id="q-error"`, "control character")
	})
}

// requestForm returns the fields of a filled-in request form, as a browser
// that loaded /envs/new would send them.
func requestFormValues(t *testing.T, b *browser, system string) url.Values {
	t.Helper()
	r := b.get(t, "/envs/new")
	if r.status != http.StatusOK {
		t.Fatalf("GET /envs/new: %d", r.status)
	}
	v := formFields(t, r.body)
	if v.Get("idempotency_key") == "" {
		t.Fatal("the form has no idempotency key")
	}
	v.Set("org_id", "lg-011002")
	v.Set("system_name", system)
	v.Set("purpose", "development")
	v.Set("classification", "level2")
	v.Set("provider", "sim")
	return v
}

func TestCreateEnv(t *testing.T) {
	t.Parallel()

	t.Run("fail/no CSRF token", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		b := h.browser(t)
		v := requestFormValues(t, b, "税務システム")
		v.Del(csrfField)
		r := b.post(t, "/envs", v)
		if r.status != http.StatusForbidden {
			t.Fatalf("status %d, want 403", r.status)
		}
		mustContain(t, r.body, "フォームを送信できませんでした")
		if n := h.countEnvs(t); n != 0 {
			t.Fatalf("%d environments, want 0", n)
		}
	})

	t.Run("fail/not signed in", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		v := requestFormValues(t, h.browser(t), "税務システム")
		// Another browser (another site's forged form) has the fields but
		// not the session.
		r := h.anonymous(t).post(t, "/envs", v)
		if r.status != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401", r.status)
		}
		mustContain(t, r.body, "ログインしてください", `href="/login"`)
		if n := h.countEnvs(t); n != 0 {
			t.Fatalf("%d environments, want 0", n)
		}
	})

	t.Run("fail/token of another session", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		b := h.browser(t)
		v := requestFormValues(t, b, "税務システム")
		v.Set(csrfField, formFields(t, h.browser(t).get(t, "/envs/new").body).Get(csrfField))
		if r := b.post(t, "/envs", v); r.status != http.StatusForbidden {
			t.Fatalf("status %d, want 403", r.status)
		}
	})

	t.Run("ok/creates and redirects; a double submit makes one", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		b := h.browser(t)
		v := requestFormValues(t, b, "税務システム")
		first := b.post(t, "/envs", v)
		if first.status != http.StatusSeeOther {
			t.Fatalf("status %d, want 303\n%s", first.status, first.body)
		}
		loc := first.header.Get("Location")
		id, ok := strings.CutPrefix(loc, "/envs/")
		if !ok || !env.ValidID(id) {
			t.Fatalf("Location %q", loc)
		}
		en, err := h.api.Envs.Get(context.Background(), h.api.DB, id)
		if err != nil {
			t.Fatalf("the new environment: %v", err)
		}
		// The operator asked under its break-glass grant for Hokkaido's
		// subtree, and the record says so.
		if en.SystemName != "税務システム" || en.OrgID != "lg-011002" || en.Purpose != env.Development ||
			en.Classification != env.Level2 || en.RequestedBy != b.person.ID+" under g-lg-010006" || en.State != env.Approved {
			t.Errorf("stored %+v", en)
		}
		second := b.post(t, "/envs", v)
		if second.status != http.StatusSeeOther || second.header.Get("Location") != loc {
			t.Fatalf("second submit: %d %q, want 303 %q", second.status, second.header.Get("Location"), loc)
		}
		if n := h.countEnvs(t); n != 1 {
			t.Fatalf("%d environments after a double submit, want 1", n)
		}
		detail := b.get(t, loc)
		mustContain(t, detail.body, "税務システム", "承認済み", `data-live-env="`+id+`"`)
	})

	t.Run("fail/same system again is a conflict with a fresh key", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		b := h.browser(t)
		if r := b.post(t, "/envs", requestFormValues(t, b, "税務システム")); r.status != http.StatusSeeOther {
			t.Fatalf("first: %d", r.status)
		}
		v := requestFormValues(t, b, "税務システム")
		r := b.post(t, "/envs", v)
		if r.status != http.StatusConflict {
			t.Fatalf("status %d, want 409\n%s", r.status, r.body)
		}
		mustContain(t, r.body, "already has a live", `class="error-summary"`, `value="税務システム"`)
		if formFields(t, r.body).Get("idempotency_key") == v.Get("idempotency_key") {
			t.Error("the form after a conflict reuses its key")
		}
	})

	t.Run("fail/every invalid field at once, in the reader's language", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		b := h.browser(t)
		v := requestFormValues(t, b, "")
		v.Set("purpose", "")
		v.Set("classification", "secret")
		for _, tc := range []struct{ lang, title string }{
			{"ja", "<title>エラー 3 件 — 環境を申請"},
			{"en", "<title>3 errors — Request an environment"},
		} {
			r := b.post(t, "/envs?lang="+tc.lang, v)
			if r.status != http.StatusUnprocessableEntity {
				t.Fatalf("status %d\n%s", r.status, r.body)
			}
			mustContain(t, r.body, tc.title, `id="system_name-error"`, `id="purpose-error"`, `id="classification-error"`)
			// The summary lists them in the form's order.
			iName, iPurpose, iClass := strings.Index(r.body, `href="#system_name"`), strings.Index(r.body, `href="#purpose"`), strings.Index(r.body, `href="#classification"`)
			if iName < 0 || iName > iPurpose || iPurpose > iClass {
				t.Errorf("%s: summary order %d %d %d", tc.lang, iName, iPurpose, iClass)
			}
		}
	})

	invalid := []struct {
		name, field, value, message string
		status                      int
	}{
		{"fail/no system name", "system_name", "", "「システム名」を入力してください。", http.StatusUnprocessableEntity},
		{"fail/long system name", "system_name", strings.Repeat("あ", 41), "「システム名」が 41 文字あります。40 文字以内にしてください。", http.StatusUnprocessableEntity},
		// An organisation nobody's grant covers (here: one that does not
		// exist) is refused before the engine is asked.
		{"fail/unknown org", "org_id", "lg-999999", "あなたは環境を申請できません", http.StatusForbidden},
		{"fail/no org", "org_id", "", "「組織 ID」を入力してください。", http.StatusUnprocessableEntity},
		{"fail/bad purpose", "purpose", "prod", "「用途」を選んでください。", http.StatusUnprocessableEntity},
		{"fail/bad classification", "classification", "secret", "「扱う情報の機密性」を選んでください。", http.StatusUnprocessableEntity},
		{"fail/unknown provider", "provider", "gcp", "「プロバイダー」を選んでください。", http.StatusUnprocessableEntity},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			b := h.browser(t)
			v := requestFormValues(t, b, "税務システム")
			v.Set(tt.field, tt.value)
			r := b.post(t, "/envs", v)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d\n%s", r.status, tt.status, r.body)
			}
			mustContain(t, r.body, `id="`+tt.field+`-error"`, tt.message, `href="#`+tt.field+`"`)
			// The refused form keeps its key: nothing was stored under it.
			if got := formFields(t, r.body).Get("idempotency_key"); got != v.Get("idempotency_key") {
				t.Errorf("idempotency key changed from %q to %q", v.Get("idempotency_key"), got)
			}
			if n := h.countEnvs(t); n != 0 {
				t.Fatalf("%d environments, want 0", n)
			}
		})
	}
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	tests := []struct {
		name, path string
		want       []string
	}{
		{"fail/unknown env", "/envs/env-aaaaaaaaaaaaaaaa", []string{"ページが見つかりません", "environment env-aaaaaaaaaaaaaaaa not found"}},
		{"fail/unknown org", "/orgs/lg-999999", []string{"ページが見つかりません", "does not exist"}},
		{"fail/unknown page", "/nowhere", []string{"ページが見つかりません"}},
		{"fail/action by GET", "/envs/env-aaaaaaaaaaaaaaaa/approve", []string{"ページが見つかりません"}},
		{"fail/static directory", "/static/", []string{"ページが見つかりません"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := h.browser(t).get(t, tt.path)
			if r.status != http.StatusNotFound {
				t.Fatalf("status %d, want 404", r.status)
			}
			mustContain(t, r.body, tt.want...)
		})
	}
	t.Run("ok/API keeps its own 404", func(t *testing.T) {
		t.Parallel()
		r := h.browser(t).get(t, "/api/v1/nowhere")
		if r.status != http.StatusNotFound || !strings.Contains(r.header.Get("Content-Type"), "problem+json") {
			t.Fatalf("status %d, Content-Type %q", r.status, r.header.Get("Content-Type"))
		}
	})
}

func TestApprovals(t *testing.T) {
	t.Parallel()

	// queue loads the approval queue and returns its form fields.
	queue := func(t *testing.T, b *browser) (string, url.Values) {
		t.Helper()
		r := b.get(t, "/approvals")
		if r.status != http.StatusOK {
			t.Fatalf("GET /approvals: %d", r.status)
		}
		return r.body, formFields(t, r.body)
	}

	t.Run("ok/approve from the queue", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		en := h.request(t, "nat-digital", "秘密の台帳", env.Level3)
		b := h.browser(t)
		body, v := queue(t, b)
		mustContain(t, body, "秘密の台帳", "機密性3 はプロバイダー sim では扱えません(扱えるのは 機密性1、機密性2)")
		if v.Get("from") != "/approvals" {
			t.Fatalf("from = %q", v.Get("from"))
		}
		v.Set("note", "承認します")
		r := b.post(t, "/envs/"+en.ID+"/approve", v)
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/approvals?env="+en.ID+"&notice=approved" {
			t.Fatalf("status %d Location %q", r.status, r.header.Get("Location"))
		}
		got, _ := h.api.Envs.Get(context.Background(), h.api.DB, en.ID)
		if got.State != env.Approved || got.DecidedBy != b.person.ID {
			t.Fatalf("state %s decided by %q", got.State, got.DecidedBy)
		}
		after := b.get(t, r.header.Get("Location"))
		mustContain(t, after.body, en.ID+" を承認しました", "承認待ちの申請はありません")
	})

	t.Run("ok/reject with a reason", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		en := h.request(t, "nat-digital", "秘密の台帳", env.Level3)
		b := h.browser(t)
		_, v := queue(t, b)
		v.Set("reason", "機密性3はこの接続先では扱えません")
		r := b.post(t, "/envs/"+en.ID+"/reject", v)
		if r.status != http.StatusSeeOther {
			t.Fatalf("status %d\n%s", r.status, r.body)
		}
		got, _ := h.api.Envs.Get(context.Background(), h.api.DB, en.ID)
		if got.State != env.Rejected || got.StateReason != "機密性3はこの接続先では扱えません" {
			t.Fatalf("state %s reason %q", got.State, got.StateReason)
		}
	})

	t.Run("fail/reject without a reason", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		en := h.request(t, "nat-digital", "秘密の台帳", env.Level3)
		b := h.browser(t)
		_, v := queue(t, b)
		v.Set("reason", "  ")
		r := b.post(t, "/envs/"+en.ID+"/reject", v)
		if r.status != http.StatusUnprocessableEntity {
			t.Fatalf("status %d, want 422", r.status)
		}
		mustContain(t, r.body, `id="reason-`+en.ID+`-error"`, "needs a reason", `aria-invalid="true"`)
		// The redrawn queue behaves as the queue: its forms come back to it
		// and the language switch reloads it.
		mustContain(t, r.body, `href="/approvals?lang=en"`)
		if from := formFields(t, r.body).Get("from"); from != "/approvals" {
			t.Errorf("redrawn forms send from=%q, want /approvals", from)
		}
		got, _ := h.api.Envs.Get(context.Background(), h.api.DB, en.ID)
		if got.State != env.Requested {
			t.Fatalf("state %s, want requested", got.State)
		}
	})

	t.Run("fail/reject from the environment page redraws that page", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		en := h.request(t, "nat-digital", "秘密の台帳", env.Level3)
		b := h.browser(t)
		v := formFields(t, b.get(t, "/envs/"+en.ID).body)
		r := b.post(t, "/envs/"+en.ID+"/reject", v)
		if r.status != http.StatusUnprocessableEntity {
			t.Fatalf("status %d, want 422", r.status)
		}
		mustContain(t, r.body, "払い出しの手順", "needs a reason")
	})

	t.Run("fail/approve twice is a conflict", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		en := h.request(t, "nat-digital", "秘密の台帳", env.Level3)
		b := h.browser(t)
		_, v := queue(t, b)
		if r := b.post(t, "/envs/"+en.ID+"/approve", v); r.status != http.StatusSeeOther {
			t.Fatalf("first: %d", r.status)
		}
		r := b.post(t, "/envs/"+en.ID+"/approve", v)
		if r.status != http.StatusConflict {
			t.Fatalf("status %d, want 409", r.status)
		}
		mustContain(t, r.body, "現在の状態ではこの操作はできません", "is approved")
	})

	t.Run("ok/retry a failed environment from its page", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		en := h.request(t, "lg-011002", "税務システム", env.Level1)
		ctx := context.Background()
		h.move(t, en.ID, env.Approved, env.Provisioning, "")
		if err := h.api.Envs.StartStep(ctx, h.api.DB, en.ID, vending.StepCreateAccount); err != nil {
			t.Fatal(err)
		}
		if err := h.api.Envs.StepError(ctx, h.api.DB, en.ID, vending.StepCreateAccount, "permanent", "AccessDenied: not allowed", true); err != nil {
			t.Fatal(err)
		}
		h.move(t, en.ID, env.Provisioning, env.Failed, "create_account failed")
		b := h.browser(t)
		page := b.get(t, "/envs/"+en.ID)
		mustContain(t, page.body, "再試行する", "AccessDenied: not allowed", "step--failed")
		r := b.post(t, "/envs/"+en.ID+"/retry", formFields(t, page.body))
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/envs/"+en.ID+"?env="+en.ID+"&notice=retried" {
			t.Fatalf("status %d Location %q", r.status, r.header.Get("Location"))
		}
		got, _ := h.api.Envs.Get(ctx, h.api.DB, en.ID)
		if got.State != env.Approved {
			t.Fatalf("state %s, want approved", got.State)
		}
	})

	t.Run("ok/transfer a ready environment from its page, and refuse one without a receiver", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		en := h.request(t, "lg-011002", "税務システム", env.Level1)
		h.move(t, en.ID, env.Approved, env.Provisioning, "")
		h.move(t, en.ID, env.Provisioning, env.Ready, "")
		b := h.browser(t)
		page := b.get(t, "/envs/"+en.ID)
		mustContain(t, page.body, "移管する", "移管先の組織 ID", `action="/envs/`+en.ID+`/transfer"`)
		v := formFields(t, page.body)
		r := b.post(t, "/envs/"+en.ID+"/transfer", v)
		if r.status != http.StatusUnprocessableEntity {
			t.Fatalf("no receiver: status %d, want 422", r.status)
		}
		v.Set("org_id", "nat-digital")
		r = b.post(t, "/envs/"+en.ID+"/transfer", v)
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/envs/"+en.ID+"?env="+en.ID+"&notice=transferred" {
			t.Fatalf("transfer: status %d Location %q\n%s", r.status, r.header.Get("Location"), r.body)
		}
		if got, _ := h.api.Envs.Get(context.Background(), h.api.DB, en.ID); got.OrgID != "nat-digital" {
			t.Fatalf("after the transfer the environment belongs to %s", got.OrgID)
		}
	})

	t.Run("fail/action without CSRF token", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		en := h.request(t, "nat-digital", "秘密の台帳", env.Level3)
		b := h.browser(t)
		_, v := queue(t, b)
		v.Del(csrfField)
		if r := b.post(t, "/envs/"+en.ID+"/approve", v); r.status != http.StatusForbidden {
			t.Fatalf("status %d, want 403", r.status)
		}
	})

	t.Run("ok/a crafted notice is not shown", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		r := h.browser(t).get(t, "/approvals?notice=approved&env="+url.QueryEscape("<b>pwned</b>"))
		if strings.Contains(r.body, "<b>pwned") || strings.Contains(r.body, `class="notice"`) {
			t.Fatal("a crafted notice was shown")
		}
	})
}

func TestEnvList(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for i := range envsPerPage + 3 {
		h.request(t, "lg-011002", "システム"+string(rune('A'+i)), env.Level1)
	}
	b := h.browser(t)
	first := b.get(t, "/envs")
	mustContain(t, first.body, `rel="next"`, "data-live-note", `data-state="approved"`)
	if n := strings.Count(first.body, "<tr data-live-env="); n != envsPerPage {
		t.Fatalf("first page has %d rows, want %d", n, envsPerPage)
	}
	next := hrefOf(t, first.body, `rel="next"`)
	second := b.get(t, next)
	if n := strings.Count(second.body, "<tr data-live-env="); n != 3 {
		t.Fatalf("second page has %d rows, want 3", n)
	}
	mustContain(t, second.body, "最初のページへ")

	if r := b.get(t, "/envs?state=ready"); !strings.Contains(r.body, "該当する環境はありません") {
		t.Error("the ready filter shows environments")
	}
	r := b.get(t, "/envs?state=bogus")
	if r.status != http.StatusBadRequest {
		t.Fatalf("unknown state: %d, want 400", r.status)
	}
	mustContain(t, r.body, `id="state-error"`, `unknown state`)
}

// hrefOf returns the (unescaped) href of the first link with marker.
func hrefOf(t *testing.T, body, marker string) string {
	t.Helper()
	i := strings.Index(body, marker)
	if i < 0 {
		t.Fatalf("no link with %s", marker)
	}
	start := strings.LastIndex(body[:i], `href="`)
	end := strings.Index(body[start+6:], `"`)
	return strings.ReplaceAll(body[start+6:start+6+end], "&amp;", "&")
}

func TestStaticAndHeaders(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	b := h.browser(t)
	page := b.get(t, "/")
	if csp := page.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	for _, name := range []string{"console.css", "tokens.css", "live.js"} {
		link := hrefOrSrc(t, page.body, "/static/"+name+"?v=")
		r := b.get(t, link)
		if r.status != http.StatusOK || r.body == "" {
			t.Fatalf("%s: %d", link, r.status)
		}
		if cc := r.header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
			t.Errorf("%s: Cache-Control %q", link, cc)
		}
	}
	// webauthn.js (mfa's) is served beside them, cached the same way.
	sf := h.as(t, authz.TenantMember, "lg-011002").get(t, "/login/second-factor")
	js := b.get(t, hrefOrSrc(t, sf.body, "/static/webauthn.js?v="))
	if js.status != http.StatusOK || !strings.Contains(js.body, "data-webauthn") ||
		!strings.Contains(js.header.Get("Cache-Control"), "immutable") || !strings.HasPrefix(js.header.Get("Content-Type"), "text/javascript") {
		t.Fatalf("webauthn.js: %d %q %q", js.status, js.header.Get("Cache-Control"), js.header.Get("Content-Type"))
	}
	if cc := b.get(t, "/static/console.css").header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("unversioned: Cache-Control %q", cc)
	}
	if ct := b.get(t, "/static/console.css").header.Get("Content-Type"); !strings.HasPrefix(ct, "text/css") {
		t.Errorf("console.css: Content-Type %q", ct)
	}
}

func hrefOrSrc(t *testing.T, body, prefix string) string {
	t.Helper()
	i := strings.Index(body, prefix)
	if i < 0 {
		t.Fatalf("no reference to %s", prefix)
	}
	end := strings.IndexByte(body[i:], '"')
	return body[i : i+end]
}

func TestCSRFToken(t *testing.T) {
	t.Parallel()
	a, b := csrfToken("hbs_session-a"), csrfToken("hbs_session-b")
	if a == b || a == "" || a != csrfToken("hbs_session-a") {
		t.Fatalf("tokens %q and %q: want distinct, stable and non-empty", a, b)
	}
	tests := []struct {
		name       string
		token      string
		fromHeader bool
		want       bool
	}{
		{"ok/form", a, false, true},
		{"ok/header", a, true, true},
		{"fail/missing", "", false, false},
		{"fail/another session's", b, false, false},
		{"fail/truncated", a[:len(a)-1], false, false},
		{"fail/header token in the form's place", a, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(http.MethodPost, "/envs", nil)
			req.PostForm = url.Values{}
			switch {
			case tt.name == "fail/header token in the form's place":
				req.Header.Set(csrfHeader, tt.token)
			case tt.fromHeader:
				req.Header.Set(csrfHeader, tt.token)
			default:
				req.PostForm.Set(csrfField, tt.token)
			}
			if got := validCSRF(req, "hbs_session-a", tt.fromHeader); got != tt.want {
				t.Fatalf("validCSRF = %v, want %v", got, tt.want)
			}
		})
	}
	// No session, no token: an empty secret never validates.
	req := httptest.NewRequest(http.MethodPost, "/envs", nil)
	req.PostForm = url.Values{csrfField: {csrfToken("")}}
	if validCSRF(req, "", false) {
		t.Fatal("a token for an empty session secret was accepted")
	}
}

func TestRedactPathHidesInvitationTokens(t *testing.T) {
	for in, want := range map[string]string{
		"/invitations/hbi_secret":    "/invitations/[redacted]",
		"/invitations/hbi_secret/x":  "/invitations/[redacted]",
		"/api/v1/environments/env-1": "/api/v1/environments/env-1",
		"/invitations/":              "/invitations/",
	} {
		if got := RedactPath(in); got != want {
			t.Errorf("RedactPath(%q) = %q, want %q", in, got, want)
		}
	}
}
