package web

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// integrate sequences the queued audit entries into the signed log, as the
// server's integrator does every second.
func (h *harness) integrate(t *testing.T) audit.Checkpoint {
	t.Helper()
	cp, err := h.api.Audit.Integrate(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

var (
	auditRowTag  = regexp.MustCompile(`<tr(?: class="audit-row--grant")? data-seq="(\d+)" data-action="([a-z0-9_.-]+)">`)
	bundleHref   = regexp.MustCompile(`href="(/api/v1/audit/entries\?[^"]+)" download=`)
	verifiedText = regexp.MustCompile(`署名付きチェックポイント (\d+) に照らして検証されました`)
)

// auditSeqs are the entries an audit page lists, by seq and action.
func auditSeqs(body string) map[string]string {
	out := map[string]string{}
	for _, m := range auditRowTag.FindAllStringSubmatch(body, -1) {
		out[m[1]] = m[2]
	}
	return out
}

func TestAuditPage(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	// Something to see: an operator's request for Sapporo under a grant,
	// a tenant's own request, another tenant's, and sign-ins.
	op := h.named(t, authz.CentralOperator, "", "中央 運用者", true)
	h.grant(op.person.ID, "lg-011002")
	r := op.post(t, "/envs", url.Values{csrfField: {op.csrf()}, "org_id": {"lg-011002"}, "system_name": {"grant-sys"}, "purpose": {"production"},
		"classification": {"level2"}, "provider": {"sim"}, "idempotency_key": {"audit-1"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("request under a grant: %d\n%s", r.status, r.body)
	}
	admin := h.named(t, authz.TenantAdmin, "lg-011002", "札幌 管理者", true)
	member := h.named(t, authz.TenantMember, "lg-011011", "中央区 職員", true)
	h.request(t, "lg-011002", "own-sys", env.Level2)
	h.request(t, "nat-digital", "foreign-sys", env.Level2)
	auditor := h.named(t, authz.CentralAuditor, "", "中央 監査", true)
	cp := h.integrate(t)

	t.Run("ok/a tenant sees its subtree, verified, with the operator's work under the grant marked", func(t *testing.T) {
		r := admin.get(t, "/audit")
		if r.status != http.StatusOK {
			t.Fatalf("status %d\n%s", r.status, r.body)
		}
		mustContain(t, r.body, "あなたの組織とその配下の組織についての記録です", "検証済み",
			fmt.Sprintf("署名付きチェックポイント %d に照らして検証されました", cp.Size), "独立した検証ではありません",
			`<tr class="audit-row--grant"`, "中央 運用者", "g-lg-011002", "環境を申請", "env.requested")
		mustContain(t, html.UnescapeString(r.body), "hatoba audit check-bundle --key '"+h.api.AuditVerifierKey+"'", `value="`+h.api.AuditVerifierKey+`"`)
		mustNotContain(t, r.body, "foreign-sys", "期間をエクスポート", `role="alert"`)
		for seq, action := range auditSeqs(r.body) {
			if strings.HasPrefix(action, "session.") && !strings.Contains(r.body, "ログイン") {
				t.Errorf("entry %s (%s) shown without its name", seq, action)
			}
		}
		// The member of a ward sees the ward's entries only: none here.
		mustNotContain(t, member.get(t, "/audit").body, "grant-sys", "own-sys")
	})
	t.Run("ok/the downloaded bundle is the page, and verifies offline", func(t *testing.T) {
		r := admin.get(t, "/audit")
		m := bundleHref.FindStringSubmatch(r.body)
		if m == nil {
			t.Fatalf("no bundle link:\n%s", r.body)
		}
		dl := admin.get(t, html.UnescapeString(m[1]))
		if dl.status != http.StatusOK {
			t.Fatalf("bundle: %d %s", dl.status, dl.body)
		}
		b, err := audit.ParseBundle([]byte(dl.body))
		if err != nil {
			t.Fatal(err)
		}
		if err := audit.VerifyBundle(b, h.api.AuditVerifierKey); err != nil {
			t.Fatalf("the downloaded bundle does not verify: %v", err)
		}
		shown := auditSeqs(r.body)
		if len(b.Entries) != len(shown) || len(shown) == 0 {
			t.Fatalf("the bundle has %d entries, the page %d", len(b.Entries), len(shown))
		}
		for _, e := range b.Entries {
			if shown[fmt.Sprint(e.Seq)] != e.Action {
				t.Errorf("bundle entry %d (%s) is not on the page", e.Seq, e.Action)
			}
		}
	})
	t.Run("ok/an auditor sees everything and may export it", func(t *testing.T) {
		r := auditor.get(t, "/audit?lang=en")
		mustContain(t, r.body, "Every entry of the log", "foreign-sys", "own-sys", "Verified", `href="/api/v1/audit/export?`, "Export the period (JSON Lines)")
	})
	t.Run("ok/an operator sees the platform's own entries", func(t *testing.T) {
		r := op.get(t, "/audit")
		mustContain(t, r.body, "基盤自身の記録です", "検証済み")
		mustNotContain(t, r.body, "grant-sys", "own-sys")
	})
	t.Run("ok/filtered by time", func(t *testing.T) {
		future := h.clock.Now().Add(time.Hour).In(jst).Format(datetimeLocal)
		r := admin.get(t, "/audit?since="+url.QueryEscape(future))
		mustContain(t, r.body, "この期間の記録はありません。", `value="`+future+`"`)
		r = admin.get(t, "/audit?since=&until="+url.QueryEscape(future))
		if len(auditSeqs(r.body)) == 0 {
			t.Fatalf("from the beginning until later: nothing\n%s", r.body)
		}
	})
	t.Run("fail/a time that is not one", func(t *testing.T) {
		r := admin.get(t, "/audit?since=yesterday")
		if r.status != http.StatusBadRequest {
			t.Fatalf("status %d, want 400", r.status)
		}
		mustContain(t, r.body, `aria-invalid="true"`, "is not a date and time")
	})
}

// TestAuditPagePages: pages of 50 follow each other without gaps.
func TestAuditPagePages(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	auditor := h.as(t, authz.CentralAuditor, "")
	for i := range 60 {
		h.request(t, "nat-digital", fmt.Sprintf("sys-%02d", i), env.Level2)
	}
	h.integrate(t)
	seen := map[string]bool{}
	next := "/audit"
	for page := 0; next != ""; page++ {
		if page > 5 {
			t.Fatal("too many pages")
		}
		r := auditor.get(t, next)
		if !verifiedText.MatchString(r.body) {
			t.Fatalf("page %d is not verified:\n%s", page, r.body)
		}
		for seq := range auditSeqs(r.body) {
			if seen[seq] {
				t.Fatalf("entry %s on two pages", seq)
			}
			seen[seq] = true
		}
		next = ""
		if m := regexp.MustCompile(`<a href="(/audit\?[^"]+)" rel="next">`).FindStringSubmatch(r.body); m != nil {
			next = html.UnescapeString(m[1])
		}
	}
	var total int
	if err := h.api.DB.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM audit_entries`).Scan(&total); err != nil {
		t.Fatal(err)
	}
	if len(seen) != total || total < 60 {
		t.Fatalf("the pages showed %d entries of %d", len(seen), total)
	}
}

// TestAuditPageTampered: an entry changed in the database behind hatoba's
// back fails the page's check, prominently.
func TestAuditPageTampered(t *testing.T) {
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			auditPageTampered(t, newHarnessOn(t, d))
		})
	}
}

func auditPageTampered(t *testing.T, h *harness) {
	admin := h.as(t, authz.TenantAdmin, "lg-011002")
	h.request(t, "lg-011002", "own-sys", env.Level2)
	h.integrate(t)
	if _, err := h.api.DB.ExecContext(context.Background(),
		`UPDATE audit_entries SET actor = 'someone-else' WHERE seq = (SELECT MAX(seq) FROM audit_entries WHERE org_id = 'lg-011002')`); err != nil {
		t.Fatal(err)
	}
	r := admin.get(t, "/audit")
	mustContain(t, r.body, `class="verify verify--failed" role="alert"`, "検証失敗", "このページの記録は署名されたログと一致しません",
		"do not hash to its leaf_hash", "hatoba audit verify")
	mustNotContain(t, r.body, "検証済み")
}
