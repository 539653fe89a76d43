package web

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/breakglass"
	"github.com/hatoba-cloud/hatoba/internal/mfa"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// withKey is a person of role in orgID who has registered a security key
// (which confirmed their session), and the key.
func (h *harness) withKey(t *testing.T, role authz.Role, orgID, name string) (*browser, *softKey) {
	t.Helper()
	b := h.named(t, role, orgID, name, false)
	key := newSoftKey(t, h.mfaOrigin)
	if r := ceremony(t, b, key, "register", name+"のキー"); r.status != http.StatusOK {
		t.Fatalf("register a key for %s: %d %s", name, r.status, r.body)
	}
	return b, key
}

var (
	accessLocation = regexp.MustCompile(`^/access/(bg-[a-z0-9]+)\?notice=access_filed$`)
	finishAttr     = regexp.MustCompile(`data-webauthn-finish="([^"]+)"`)
	beginAttr      = regexp.MustCompile(`data-webauthn-begin="([^"]+)"`)
)

// fileAccess files a request through the form and returns its id.
func fileAccess(t *testing.T, b *browser, orgID, reason, duration string) string {
	t.Helper()
	r := b.post(t, "/access", url.Values{csrfField: {b.csrf()}, "org_id": {orgID}, "reason": {reason}, "duration": {duration}})
	m := accessLocation.FindStringSubmatch(r.header.Get("Location"))
	if r.status != http.StatusSeeOther || m == nil {
		t.Fatalf("file: %d %q\n%s", r.status, r.header.Get("Location"), r.body)
	}
	return m[1]
}

// decideWithKey does what a person's browser does: the approve or deny
// form, then the confirmation page's ceremony through webauthn.js's two
// requests. It returns the finish request's answer, or the first refusal.
func decideWithKey(t *testing.T, b *browser, key *softKey, id, decision, note string) response {
	t.Helper()
	page := b.post(t, "/access/"+id+"/"+decision, url.Values{csrfField: {b.csrf()}, "note": {note}, "from": {"/access/" + id}})
	if page.status != http.StatusOK {
		return page
	}
	begin, finish := beginAttr.FindStringSubmatch(page.body), finishAttr.FindStringSubmatch(page.body)
	if begin == nil || finish == nil {
		t.Fatalf("the confirmation page runs no ceremony:\n%s", page.body)
	}
	return assertAt(t, b, key, html.UnescapeString(begin[1]), html.UnescapeString(finish[1]))
}

// assertAt runs an assertion begun at one address and finished at another.
func assertAt(t *testing.T, b *browser, key *softKey, begin, finish string) response {
	t.Helper()
	r := b.postJSON(t, begin, []byte(`{}`))
	if r.status != http.StatusOK {
		return r
	}
	var reply mfa.BeginReply
	if err := json.Unmarshal([]byte(r.body), &reply); err != nil {
		t.Fatalf("begin reply %s: %v", r.body, err)
	}
	key.Counter++
	body, err := json.Marshal(mfa.FinishRequest{Ceremony: reply.Ceremony, Credential: key.Get(reply.Options)})
	if err != nil {
		t.Fatal(err)
	}
	return b.postJSON(t, finish, body)
}

func (h *harness) accessRequest(t *testing.T, id string) breakglass.Request {
	t.Helper()
	req, err := h.api.BreakGlass.Get(context.Background(), authz.Principal{PersonID: "test", Role: authz.CentralAuditor}, id)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// TestBreakGlassJourney: an operator asks for a tenant's scope, the
// tenant's administrator and a second operator approve with their keys,
// the operator works under the grant, and the tenant ends it.
func TestBreakGlassJourney(t *testing.T) {
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			breakGlassJourney(t, newHarnessOn(t, d))
		})
	}
}

func breakGlassJourney(t *testing.T, h *harness) {
	requester := h.named(t, authz.CentralOperator, "", "中央 申請者", true)
	admin, adminKey := h.withKey(t, authz.TenantAdmin, "lg-011002", "札幌 管理者")
	second, secondKey := h.withKey(t, authz.CentralOperator, "", "中央 承認者")
	foreign := h.as(t, authz.TenantAdmin, "nat-digital")
	auditor := h.as(t, authz.CentralAuditor, "")

	form := requester.get(t, "/access")
	mustContain(t, form.body, "アクセスを申請する", `<option value="1h0m0s" selected>1時間</option>`, `<option value="8h0m0s">8時間</option>`)
	mustNotContain(t, form.body, `value="12h0m0s"`) // beyond the harness's maximum of 8h
	id := fileAccess(t, requester, "lg-011002", "税務システムの払い出し失敗を調査するため (INC-0042)", "2h0m0s")

	t.Run("ok/the requester sees it pending and may withdraw it", func(t *testing.T) {
		r := requester.get(t, "/access/"+id+"?notice=access_filed")
		mustContain(t, r.body, "アクセス申請を提出しました", "承認待ち", "札幌市", "2時間", "INC-0042", "申請を取り下げる", "まだありません")
		mustNotContain(t, r.body, "承認する…", "却下する…")
	})
	t.Run("ok/the tenant's administrator is told on the dashboard", func(t *testing.T) {
		r := admin.get(t, "/")
		mustContain(t, r.body, "中央 申請者 が 札幌市 へのアクセスを申請しています", "INC-0042", "期間: 2時間。", `href="/access/`+id+`"`, "確認して判断する")
		r = admin.get(t, "/access")
		mustContain(t, r.body, "あなたの承認待ち", id)
	})
	t.Run("ok/another tenant sees nothing of it", func(t *testing.T) {
		if r := foreign.get(t, "/access/"+id); r.status != http.StatusNotFound {
			t.Fatalf("status %d, want 404", r.status)
		}
		mustNotContain(t, foreign.get(t, "/access").body, id)
		mustNotContain(t, foreign.get(t, "/").body, "へのアクセスを申請しています")
	})
	t.Run("ok/the auditor sees it and may do nothing", func(t *testing.T) {
		r := auditor.get(t, "/access/"+id)
		mustContain(t, r.body, id, "承認待ち")
		mustNotContain(t, r.body, "承認する…", "このアクセスを終了する", "申請を取り下げる")
	})
	t.Run("ok/the confirmation page shows what is decided and asks for the key", func(t *testing.T) {
		r := admin.post(t, "/access/"+id+"/approve", url.Values{csrfField: {admin.csrf()}, "note": {"調査のみ。変更は不可。"}})
		if r.status != http.StatusOK {
			t.Fatalf("status %d\n%s", r.status, r.body)
		}
		mustContain(t, r.body, "セキュリティキーでアクセスを承認する", "調査のみ。変更は不可。", "INC-0042", `data-webauthn="assert"`,
			`data-webauthn-begin="/access/`+id+`/approve/begin"`, `/access/`+id+`/approve/finish?note=`, webauthnJSPath)
		if got := h.accessRequest(t, id); got.TenantApproverID != "" {
			t.Fatal("drawing the confirmation page approved the request")
		}
	})
	t.Run("fail/a touch is bound to its one decision", func(t *testing.T) {
		for _, tt := range []struct{ name, begin, finish string }{
			{"approve's touch spent on deny", "/access/" + id + "/approve/begin", "/access/" + id + "/deny/finish"},
			{"a sign-in touch spent on approve", "/webauthn/assert/begin", "/access/" + id + "/approve/finish"},
		} {
			r := assertAt(t, admin, adminKey, tt.begin, tt.finish)
			if r.status != http.StatusConflict {
				t.Errorf("%s: status %d, want 409: %s", tt.name, r.status, r.body)
			}
		}
		if got := h.accessRequest(t, id); got.State != breakglass.Pending || got.TenantApproverID != "" {
			t.Fatalf("after refused touches: %+v", got)
		}
	})

	// The tenant approves with its key.
	r := decideWithKey(t, admin, adminKey, id, "approve", "調査のみ。変更は不可。")
	if r.status != http.StatusOK || !strings.Contains(r.body, `"redirect":"/access/`+id+`?notice=access_approved"`) {
		t.Fatalf("approve: %d %s", r.status, r.body)
	}
	if got := h.accessRequest(t, id); got.TenantApproverID != admin.person.ID || got.State != breakglass.Pending {
		t.Fatalf("after the tenant's approval: %+v", got)
	}
	for action, want := range map[string]int{"mfa.assertion": 1, "access.approve": 1} {
		if n := h.auditCount(t, action, admin.person.ID); n != want {
			t.Errorf("%d %s entries by the administrator, want %d", n, action, want)
		}
	}
	t.Run("fail/the half already given is not offered again", func(t *testing.T) {
		mustNotContain(t, admin.get(t, "/access/"+id).body, "承認する…")
		r := admin.post(t, "/access/"+id+"/approve", url.Values{csrfField: {admin.csrf()}})
		if r.status != http.StatusConflict {
			t.Fatalf("status %d, want 409", r.status)
		}
		mustContain(t, r.body, "この申請は判断できません")
	})
	t.Run("fail/the requester cannot approve its own request", func(t *testing.T) {
		mustNotContain(t, requester.get(t, "/access/"+id).body, "承認する…")
		if r := requester.post(t, "/access/"+id+"/approve", url.Values{csrfField: {requester.csrf()}}); r.status != http.StatusConflict {
			t.Fatalf("status %d, want 409", r.status)
		}
	})

	// A second operator approves: the grant starts.
	if r := decideWithKey(t, second, secondKey, id, "approve", ""); r.status != http.StatusOK {
		t.Fatalf("second approval: %d %s", r.status, r.body)
	}
	got := h.accessRequest(t, id)
	if got.State != breakglass.Active || got.OperatorApproverID != second.person.ID || got.ExpiresAt == nil {
		t.Fatalf("after both approvals: %+v", got)
	}
	r = admin.get(t, "/")
	mustContain(t, r.body, "中央 申請者 が 札幌市 にアクセスできます", datetimeOf(*got.ExpiresAt), "あなたの組織へのアクセス", "特権アクセスを許可")
	mustNotContain(t, r.body, "へのアクセスを申請しています")
	mustContain(t, requester.get(t, "/").body, "中央 申請者 が 札幌市 にアクセスできます")
	r = admin.get(t, "/access/"+id)
	mustContain(t, r.body, "有効", "組織が承認", "もう一人の運用者が承認", "アクセス許可", "アクセス終了予定", "札幌 管理者", "中央 承認者", "このアクセスを終了する")
	if r := requester.get(t, "/envs/new"); r.status != http.StatusOK {
		t.Fatalf("the requester under its grant: request form %d", r.status)
	}

	// The tenant ends it early.
	r = admin.post(t, "/access/"+id+"/revoke", url.Values{csrfField: {admin.csrf()}, "note": {"調査完了"}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/access/"+id+"?notice=access_revoked" {
		t.Fatalf("revoke: %d %q\n%s", r.status, r.header.Get("Location"), r.body)
	}
	r = admin.get(t, "/access/"+id)
	mustContain(t, r.body, "途中で終了", "調査完了")
	mustNotContain(t, r.body, "このアクセスを終了する")
	if r := requester.get(t, "/envs/new"); r.status != http.StatusForbidden {
		t.Fatalf("the requester after revocation: request form %d, want 403", r.status)
	}
	if r := admin.post(t, "/access/"+id+"/revoke", url.Values{csrfField: {admin.csrf()}}); r.status != http.StatusConflict {
		t.Fatalf("revoking twice: %d, want 409", r.status)
	}
}

// webauthnJSPath is how pages load the ceremony script.
var webauthnJSPath = "/static/webauthn.js?v=" + mfa.ScriptVersion()

func datetimeOf(t time.Time) string {
	return t.In(jst).Format("2006-01-02 15:04:05")
}

func TestBreakGlassEndings(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	requester := h.named(t, authz.CentralOperator, "", "中央 申請者", true)
	natAdmin, natKey := h.withKey(t, authz.TenantAdmin, "nat-digital", "デジタル 管理者")

	t.Run("ok/the requester withdraws", func(t *testing.T) {
		id := fileAccess(t, requester, "lg-011002", "障害調査のためのアクセスです", "30m0s")
		r := requester.post(t, "/access/"+id+"/revoke", url.Values{csrfField: {requester.csrf()}})
		if r.status != http.StatusSeeOther || !strings.HasSuffix(r.header.Get("Location"), "notice=access_withdrawn") {
			t.Fatalf("withdraw: %d %q", r.status, r.header.Get("Location"))
		}
		mustContain(t, requester.get(t, "/access/"+id).body, "取り下げ")
	})
	t.Run("ok/the tenant denies with its key", func(t *testing.T) {
		id := fileAccess(t, requester, "nat-digital", "調達システムの障害調査のため", "1h0m0s")
		r := decideWithKey(t, natAdmin, natKey, id, "deny", "必要ありません")
		if r.status != http.StatusOK || !strings.Contains(r.body, "notice=access_denied") {
			t.Fatalf("deny: %d %s", r.status, r.body)
		}
		got := h.accessRequest(t, id)
		if got.State != breakglass.Denied || got.DecidedBy != natAdmin.person.ID || got.DecisionNote != "必要ありません" {
			t.Fatalf("after denying: %+v", got)
		}
		mustContain(t, natAdmin.get(t, "/access/"+id+"?lang=en").body, "Denied", "必要ありません", "Access requests")
	})
	refusals := []struct {
		name, org, reason, duration string
		status                      int
		want                        string
	}{
		{"fail/reason too short", "lg-011002", "急ぎ", "1h0m0s", http.StatusUnprocessableEntity, "at least 10 characters"},
		{"fail/longer than allowed", "lg-011002", "障害調査のためのアクセスです", "48h", http.StatusUnprocessableEntity, "duration must be from"},
		{"fail/not a duration", "lg-011002", "障害調査のためのアクセスです", "soon", http.StatusUnprocessableEntity, "必要な期間を選んでください"},
		{"fail/no organisation", "", "障害調査のためのアクセスです", "1h0m0s", http.StatusUnprocessableEntity, "org_id"},
		{"fail/unknown organisation", "lg-999999", "障害調査のためのアクセスです", "1h0m0s", http.StatusUnprocessableEntity, "no organisation lg-999999"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			r := requester.post(t, "/access", url.Values{csrfField: {requester.csrf()}, "org_id": {tt.org}, "reason": {tt.reason}, "duration": {tt.duration}})
			if r.status != tt.status {
				t.Fatalf("status %d, want %d\n%s", r.status, tt.status, r.body)
			}
			mustContain(t, r.body, tt.want, `role="alert"`, "アクセスを申請する")
		})
	}
	t.Run("fail/a second pending request for the same scope", func(t *testing.T) {
		fileAccess(t, requester, "qp-jlis", "J-LIS 連携の障害調査のため", "1h0m0s")
		r := requester.post(t, "/access", url.Values{csrfField: {requester.csrf()}, "org_id": {"qp-jlis"}, "reason": {"J-LIS 連携の障害調査のため"}, "duration": {"1h0m0s"}})
		if r.status != http.StatusConflict || !strings.Contains(r.body, "already have request") {
			t.Fatalf("status %d, want 409\n%s", r.status, r.body)
		}
	})
	t.Run("ok/the picker finds organisations", func(t *testing.T) {
		r := requester.get(t, "/access?org_q="+url.QueryEscape("さっぽろ"))
		mustContain(t, r.body, `href="/access?org_id=lg-011002&amp;org_q=`)
		r = requester.get(t, "/access?org_id=lg-011002")
		mustContain(t, r.body, "選択中の組織", "札幌市", `value="lg-011002"`)
	})
}
