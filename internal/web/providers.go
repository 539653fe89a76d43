package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/hatoba-cloud/hatoba/internal/api"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/placement"
)

// providersPage is the data of /providers: every provider connection with
// its tier and capabilities, and the placement policy — which central
// operators change here (docs/providers.md#placement).
type providersPage struct {
	Providers []api.ProviderInfo
	Policy    placement.Policy
	// NoPolicy: this server keeps no placement policy.
	NoPolicy bool
	CanEdit  bool
	// The form: the rules (the stored ones, or what was sent back with
	// an error) and one blank rule to add.
	Form       []ruleRow
	System     placement.SystemRule
	Version    int
	Names      []string // the connections, for the rules' provider choices
	Tiers      []string
	Classes    []string
	OnBreaches []string
	// Errors are the form's problems in the reader's language; Problem is
	// the policy's own refusal (English, marked as such).
	Errors  []string
	Problem string
}

// ruleRow is one rule of the form.
type ruleRow struct {
	N, Number int // its index in the form, and its number for people
	placement.Rule
}

const providersPath = "/providers"

func (c *Console) providers(w http.ResponseWriter, r *http.Request) {
	c.renderProviders(w, r, http.StatusOK, nil, nil)
}

// renderProviders draws the page; sent, when not nil, is a refused form
// to show again with its errors; errs are shown above the stored policy.
func (c *Console) renderProviders(w http.ResponseWriter, r *http.Request, status int, sent *providersPage, errs []string) {
	p := providersPage{Tiers: placement.Tiers, Classes: placement.Classifications, OnBreaches: []string{string(placement.Approve), string(placement.Refuse)}}
	var pol *placement.Policy
	if ps := c.api.Vending.Placement(); ps != nil {
		cur, err := ps.Current(r.Context())
		if err != nil {
			c.fail(w, r, err)
			return
		}
		p.Policy, pol = cur, &cur
	} else {
		p.NoPolicy = true
	}
	p.Providers = c.api.Providers(pol)
	for _, pi := range p.Providers {
		p.Names = append(p.Names, pi.Name)
	}
	p.CanEdit = !p.NoPolicy && c.may(r, authz.WritePlacement, authz.Resource{Kind: "placement policy"})
	if sent != nil {
		p.Form, p.System, p.Version, p.Errors, p.Problem = sent.Form, sent.System, sent.Version, sent.Errors, sent.Problem
	} else {
		for i, rule := range p.Policy.Rules {
			p.Form = append(p.Form, ruleRow{N: i, Number: i + 1, Rule: rule})
		}
		p.System, p.Version, p.Errors = p.Policy.OneProviderPerSystem, p.Policy.Version, errs
	}
	if p.CanEdit {
		p.Form = append(p.Form, ruleRow{N: len(p.Form), Rule: placement.Rule{OnBreach: placement.Approve}})
	}
	c.render(w, r, status, "providers", "providers", p)
}

// maxRules bounds the rules one form may send.
const maxRules = 100

// putPlacement changes the placement policy from the form. A rule whose
// classification is left empty (the blank row) or that is marked for
// removal is not kept.
func (c *Console) putPlacement(w http.ResponseWriter, r *http.Request) {
	if _, err := c.decide(r, authz.WritePlacement, authz.Resource{Kind: "placement policy"}); err != nil {
		c.fail(w, r, err)
		return
	}
	pf := r.PostForm
	n, err := strconv.Atoi(pf.Get("rules"))
	version, verr := strconv.Atoi(pf.Get("version"))
	if err != nil || verr != nil || n < 0 || n > maxRules {
		c.renderError(w, r, errorPage{Status: http.StatusBadRequest, Key: "bad_form"})
		return
	}
	sent := &providersPage{Version: version, System: placement.SystemRule{Enabled: pf.Get("system_enabled") == "yes",
		OnBreach: placement.OnBreach(pf.Get("system_on_breach"))}}
	pol := placement.Policy{Version: version, OneProviderPerSystem: sent.System}
	for i := range n {
		key := func(f string) string { return fmt.Sprintf("rule.%d.%s", i, f) }
		rule := placement.Rule{Classification: pf.Get(key("classification")), OrgID: strings.TrimSpace(pf.Get(key("org_id"))),
			Tiers: pf[key("tier")], Providers: pf[key("provider")], OnBreach: placement.OnBreach(pf.Get(key("on_breach")))}
		if rule.Classification == "" || pf.Get(key("remove")) == "yes" {
			continue
		}
		sent.Form = append(sent.Form, ruleRow{N: len(sent.Form), Number: len(sent.Form) + 1, Rule: rule})
		if len(rule.Tiers) == 0 && len(rule.Providers) == 0 {
			sent.Errors = append(sent.Errors, fmt.Sprintf(c.message(r, "providers.rule_allows_nothing"), len(sent.Form)))
		}
		pol.Rules = append(pol.Rules, rule)
	}
	if len(sent.Errors) == 0 {
		_, err = c.api.PutPlacementPolicy(r.Context(), me(r).principal.PersonID, pol)
		if err == nil {
			http.Redirect(w, r, providersPath+"?notice=placement_changed", http.StatusSeeOther)
			return
		}
		switch fault.KindOf(err) {
		case fault.Conflict:
			// Another change came first: show the stored policy, and say so.
			c.renderProviders(w, r, http.StatusConflict, nil, []string{c.message(r, "providers.stale")})
			return
		case fault.Invalid:
			fe, _ := fault.As(err)
			sent.Errors = append(sent.Errors, c.message(r, "providers.invalid"))
			sent.Problem = fe.Message
		default:
			c.fail(w, r, err)
			return
		}
	}
	c.renderProviders(w, r, http.StatusUnprocessableEntity, sent, nil)
}
