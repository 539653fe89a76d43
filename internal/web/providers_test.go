package web

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/placement"
)

// The providers page shows every connection with its tier, and the
// placement policy; only central operators get the form that changes it.
func TestProvidersPage(t *testing.T) {
	t.Parallel()
	h := newHarnessWith(t, harnessConfig{domestic: true})
	member := h.as(t, authz.TenantMember, "lg-011002")
	r := member.get(t, "/providers?lang=ja")
	if r.status != http.StatusOK {
		t.Fatalf("GET /providers as a tenant member: %d", r.status)
	}
	mustContain(t, r.body, "プロバイダーと配置ポリシー", `data-provider="sim" data-tier="hyperscaler"`, `data-provider="domestic" data-tier="domestic"`,
		"ハイパースケーラー", "国内事業者", `data-allowed="level1 level2"`, `data-allowed="level1 level2 level3"`, `data-rule="level3"`, `data-version="1"`)
	mustNotContain(t, r.body, `id="placement-form"`)
	// The dashboard leads to it.
	mustContain(t, member.get(t, "/?lang=ja").body, `href="/providers"`)

	// A tenant administrator may not change the policy.
	admin := h.as(t, authz.TenantAdmin, "lg-011002")
	page := admin.get(t, "/providers")
	v := formFields(t, page.body)
	v.Set("version", "1")
	v.Set("rules", "0")
	if r := admin.post(t, "/providers/placement", v); r.status != http.StatusForbidden {
		t.Fatalf("a tenant administrator's change: %d", r.status)
	}

	// A central operator changes it from the approval queue's link.
	op := h.as(t, authz.CentralOperator, "")
	mustContain(t, op.get(t, "/approvals?lang=ja").body, `href="/providers#placement-h"`)
	page = op.get(t, "/providers?lang=ja")
	mustContain(t, page.body, `id="placement-form"`, `name="rule.3.classification"`) // three rules and a blank one
	v = formFields(t, page.body)
	if v.Get("version") != "1" || v.Get("rules") != "4" {
		t.Fatalf("form fields %v", v)
	}
	v.Set("rule.0.classification", "level3")
	v["rule.0.tier"] = []string{"domestic"}
	v.Set("rule.0.on_breach", "refuse")
	v.Set("rule.1.classification", "level2")
	v["rule.1.tier"] = []string{"domestic", "hyperscaler"}
	v.Set("rule.1.on_breach", "approve")
	v.Set("rule.2.classification", "level1")
	v.Set("rule.2.remove", "yes")
	v.Set("rule.3.classification", "level2")
	v.Set("rule.3.org_id", "qp-jlis")
	v["rule.3.provider"] = []string{"domestic"}
	v.Set("rule.3.on_breach", "refuse")
	v.Set("system_enabled", "yes")
	v.Set("system_on_breach", "approve")
	r = op.post(t, "/providers/placement", v)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/providers?notice=placement_changed" {
		t.Fatalf("the operator's change: %d %s", r.status, r.body)
	}
	pol, err := h.console.api.Vending.Placement().Current(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if pol.Version != 2 || pol.ChangedBy != op.person.ID || len(pol.Rules) != 3 || !pol.OneProviderPerSystem.Enabled || pol.Rules[0].OnBreach != placement.Refuse {
		t.Fatalf("stored policy %+v", pol)
	}
	r = op.get(t, "/providers?lang=ja&notice=placement_changed")
	mustContain(t, r.body, "配置ポリシーを変更しました。", `data-rule="level2@qp-jlis"`, op.person.DisplayName, "却下する")

	// The same form again is stale: the policy is shown as it is now.
	if r := op.post(t, "/providers/placement", v); r.status != http.StatusConflict || !strings.Contains(r.body, "他の人が変更しました") {
		t.Fatalf("a stale change: %d", r.status)
	}
	// A rule that allows nothing, and an organisation that does not exist.
	v = formFields(t, op.get(t, "/providers").body)
	v.Set("rules", "1")
	v.Set("rule.0.classification", "level3")
	v.Set("rule.0.on_breach", "refuse")
	r = op.post(t, "/providers/placement?lang=ja", v)
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("a rule allowing nothing: %d", r.status)
	}
	mustContain(t, r.body, "規則 1 は、置ける区分もプロバイダーも選ばれていません")
	v["rule.0.tier"] = []string{"domestic"}
	v.Set("rule.0.org_id", "lg-999999")
	if r := op.post(t, "/providers/placement", v); r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "lg-999999") {
		t.Fatalf("a rule for no organisation: %d", r.status)
	}
}

// The request form offers the providers the placement policy allows for
// the classification; a request it refuses says why, in Japanese.
func TestRequestFormPlacement(t *testing.T) {
	t.Parallel()
	h := newHarnessWith(t, harnessConfig{domestic: true})
	b := h.browser(t)
	r := b.get(t, "/envs/new?lang=ja&org_id=lg-011002")
	mustContain(t, r.body, `<option value="sim" data-classifications="level1 level2">`, `<option value="domestic" data-classifications="level1 level2 level3">`, `href="/providers"`, "data-placement")

	ps := h.console.api.Vending.Placement()
	pol, err := ps.Current(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	pol.Rules[0].OnBreach = placement.Refuse // level3 only on the domestic tier, refused elsewhere
	if _, err := ps.Put(context.Background(), "p-test", pol); err != nil {
		t.Fatal(err)
	}
	v := requestFormValues(t, b, "国保システム")
	v.Set("classification", "level3")
	r = b.post(t, "/envs?lang=ja", v)
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("level3 on sim: %d", r.status)
	}
	mustContain(t, r.body, "配置ポリシーにより、このプロバイダーには申請できません。", "機密性3 はプロバイダー sim(ハイパースケーラー)には置けません")
	// The form comes back offering only the providers level3 may go on.
	mustContain(t, r.body, `<option value="domestic"`)
	mustNotContain(t, r.body, `<option value="sim"`)
	if n := h.countEnvs(t); n != 0 {
		t.Fatalf("a refused request stored %d environments", n)
	}
	v.Set("provider", "domestic")
	if r := b.post(t, "/envs", v); r.status != http.StatusSeeOther {
		t.Fatalf("level3 on the domestic tier: %d", r.status)
	}
}
