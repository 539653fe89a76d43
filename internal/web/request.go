package web

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/org"
	"github.com/hatoba-cloud/hatoba/internal/placement"
)

// requestForm is the data of /envs/new.
type requestForm struct {
	OrgID          string
	SystemName     string
	Purpose        env.Purpose
	Classification env.Classification
	Provider       string
	// IdempotencyKey is made when the form is drawn: submitting the same
	// form twice (a double click, a resent POST) makes one environment.
	IdempotencyKey string

	// Errors maps a field name to its message; Problem is a message about
	// the request as a whole.
	Errors  map[string]string
	Problem string

	Purposes        []env.Purpose
	Classifications []env.Classification
	// Providers are the connections offered: with a classification
	// chosen, only those the placement policy (and the connection's own
	// list) allow for it in the organisation.
	Providers []providerChoice
	// Refusal is why the placement policy refused the request, in the
	// reader's language.
	Refusal template.HTML

	// The organisation picker: a search and the organisation chosen.
	OrgQuery    string
	OrgResults  []org.Organization
	OrgSearched bool
	OrgMore     bool
	SelectedOrg *org.Organization
}

// providerChoice is a provider connection in the form's select.
type providerChoice struct {
	Name, Tier string
	// Classes are the classifications it may hold in the organisation,
	// space-separated: live.js offers only the providers of the
	// classification chosen.
	Classes string
}

// orgPickerResults bounds the organisations the picker lists.
const orgPickerResults = 20

// maxIdempotencyKey matches the API's bound on Idempotency-Key.
const maxIdempotencyKey = 200

func newIdempotencyKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return "console-" + hex.EncodeToString(b)
}

func (c *Console) envForm(w http.ResponseWriter, r *http.Request) {
	if p := me(r).principal; !mayAnywhere(c.api.Authz, p, authz.RequestEnv) {
		// An operator asks on a tenant's behalf only under a break-glass
		// grant; without one there is no organisation to choose.
		c.fail(w, r, fault.Forbiddenf("a %s may request environments only for organisations a break-glass grant covers, and holds none", p.Role))
		return
	}
	q := r.URL.Query()
	f := requestForm{
		OrgID:          strings.TrimSpace(q.Get("org_id")),
		OrgQuery:       strings.TrimSpace(q.Get("org_q")),
		IdempotencyKey: newIdempotencyKey(),
		Errors:         map[string]string{},
	}
	if f.OrgID == "" && f.OrgQuery == "" {
		// A tenant administrator usually asks for its own organisation.
		f.OrgID = me(r).principal.OrgID
	}
	if providers := c.api.Vending.ConnectionNames(); len(providers) == 1 {
		f.Provider = providers[0]
	}
	c.renderForm(w, r, http.StatusOK, f)
}

// renderForm fills in the choices and the picker and draws the form.
func (c *Console) renderForm(w http.ResponseWriter, r *http.Request, status int, f requestForm) {
	ctx := r.Context()
	f.Purposes, f.Classifications = env.Purposes, env.Classifications
	if f.OrgQuery != "" {
		// The picker offers only organisations the caller may ask for.
		within, err := c.within(r, authz.RequestEnv)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		page, err := c.api.Orgs.List(ctx, org.ListParams{Query: f.OrgQuery, Limit: orgPickerResults, Within: within})
		switch {
		case fault.KindOf(err) == fault.Invalid:
			fe, _ := fault.As(err)
			f.Errors["org_q"] = fe.Message
		case err != nil:
			c.fail(w, r, err)
			return
		default:
			f.OrgSearched, f.OrgResults, f.OrgMore = true, page.Items, page.NextCursor != ""
		}
	}
	if f.OrgID != "" && c.may(r, authz.ReadOrgs, authz.Resource{Kind: "organisation", ID: f.OrgID, OrgID: f.OrgID}) {
		o, err := c.api.Orgs.Get(ctx, f.OrgID)
		switch {
		case err == nil:
			f.SelectedOrg = &o
		case fault.KindOf(err) != fault.NotFound:
			c.fail(w, r, err)
			return
		}
	}
	choices, err := c.providerChoices(r, f)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	f.Providers = choices
	c.render(w, r, status, "env_new", "new", f)
}

// providerChoices are the connections the form offers: each with the
// classifications the placement policy allows on it in the chosen
// organisation (its subtree's rules too, when the caller may see it);
// with a classification chosen, only those that may hold it. The engine
// judges the request again whatever the form offered.
func (c *Console) providerChoices(r *http.Request, f requestForm) ([]providerChoice, error) {
	var pol *placement.Policy
	var subtrees []string
	if ps := c.api.Vending.Placement(); ps != nil {
		p, err := ps.Current(r.Context())
		if err != nil {
			return nil, err
		}
		pol = &p
		if p.HasOrgRules() && f.SelectedOrg != nil {
			up, err := c.api.Orgs.AncestorIDs(r.Context(), f.SelectedOrg.ID)
			if err != nil {
				return nil, err
			}
			subtrees = append([]string{f.SelectedOrg.ID}, up...)
		}
	}
	var out []providerChoice
	for _, cn := range c.api.Vending.Connections() {
		var classes []string
		for _, cl := range cn.Allowed {
			if pol == nil || pol.Allows(string(cl), cn.Name, cn.Tier, subtrees) {
				classes = append(classes, string(cl))
			}
		}
		if f.Classification != "" && slices.Contains(env.Classifications, f.Classification) && !slices.Contains(classes, string(f.Classification)) {
			continue
		}
		out = append(out, providerChoice{Name: cn.Name, Tier: cn.Tier, Classes: strings.Join(classes, " ")})
	}
	return out, nil
}

func (c *Console) createEnv(w http.ResponseWriter, r *http.Request) {
	pf := r.PostForm
	f := requestForm{
		OrgID:          strings.TrimSpace(pf.Get("org_id")),
		SystemName:     pf.Get("system_name"),
		Purpose:        env.Purpose(pf.Get("purpose")),
		Classification: env.Classification(pf.Get("classification")),
		Provider:       pf.Get("provider"),
		IdempotencyKey: pf.Get("idempotency_key"),
		Errors:         map[string]string{},
	}
	if len(f.IdempotencyKey) > maxIdempotencyKey {
		c.renderError(w, r, errorPage{Status: http.StatusBadRequest, Key: "bad_form"})
		return
	}
	// The organisation asked for decides: a tenant administrator's own
	// subtree, or one an operator's break-glass grant covers. Without one
	// the engine's validation says what is missing; nothing is made.
	var d authz.Decision
	if f.OrgID != "" {
		var err error
		if d, err = c.decide(r, authz.RequestEnv, authz.Resource{Kind: "organisation", OrgID: f.OrgID}); err != nil {
			if k := fault.KindOf(err); (k != fault.Forbidden && k != fault.NotFound) || isSecondFactor(err) {
				c.fail(w, r, err)
				return
			}
			f.Errors["org_id"] = c.fieldMessage(r, "new.org_id", "out_of_scope")
			c.renderForm(w, r, http.StatusForbidden, f)
			return
		}
	}
	req := env.Request{OrgID: f.OrgID, SystemName: f.SystemName, Purpose: f.Purpose,
		Classification: f.Classification, Provider: f.Provider, RequestedBy: actor(r, d)}
	en, _, err := c.api.Vending.Request(r.Context(), req, f.IdempotencyKey)
	if err == nil {
		// 303: the browser loads the new environment with GET, and reloading
		// that page does not submit the form again.
		http.Redirect(w, r, "/envs/"+en.ID, http.StatusSeeOther)
		return
	}
	fe, _ := fault.As(err)
	var invalid *env.ValidationError
	switch {
	case errors.As(err, &invalid):
		// Every invalid field at once, each in the reader's language and
		// named by the form's label.
		for _, fld := range invalid.Fields {
			f.Errors[fld.Field] = c.fieldMessage(r, "new."+fld.Field, fld.Reason, fld.Args...)
		}
		c.renderForm(w, r, http.StatusUnprocessableEntity, f)
		return
	case isRefusal(err):
		// The placement policy refused it: say why, rule by rule.
		pr, _ := placement.AsRefusal(err)
		var reasons []string
		for _, b := range pr.Breaches {
			reasons = append(reasons, b.Reason)
		}
		f.Errors["provider"] = c.message(r, "new.placement_refused")
		f.Refusal = c.systemText(langOf(r), strings.Join(reasons, "; "))
		c.renderForm(w, r, http.StatusUnprocessableEntity, f)
		return
	case fault.KindOf(err) == fault.Invalid && fe.Field == "provider":
		f.Errors["provider"] = c.fieldMessage(r, "new.provider", "choose")
		c.renderForm(w, r, http.StatusUnprocessableEntity, f)
		return
	}
	switch fault.KindOf(err) {
	case fault.Invalid:
		if fe.Field != "" {
			f.Errors[fe.Field] = fe.Message
		} else {
			f.Problem = fe.Message
		}
		// A refused request stored nothing under its key, so the corrected
		// form may reuse it; a double submit of it still makes one.
		c.renderForm(w, r, http.StatusUnprocessableEntity, f)
	case fault.Conflict:
		// The request clashes with what exists (the same system already has
		// a live environment, or this form's key was used for other
		// values): say so, and give the corrected form a fresh key.
		f.Problem = fe.Message
		f.IdempotencyKey = newIdempotencyKey()
		c.renderForm(w, r, http.StatusConflict, f)
	default:
		c.fail(w, r, err)
	}
}

func isRefusal(err error) bool {
	_, ok := placement.AsRefusal(err)
	return ok
}

// requestFields are the request form's fields in the order it shows them.
var requestFields = []string{"org_q", "org_id", "system_name", "purpose", "classification", "provider"}

// fieldProblem is a field's error, for the error summary.
type fieldProblem struct{ Field, Message string }

// ErrorList is the form's errors in the order of its fields, for the
// error summary: its links lead through the form from the top.
func (f requestForm) ErrorList() []fieldProblem {
	var out []fieldProblem
	for _, name := range requestFields {
		if msg, ok := f.Errors[name]; ok {
			out = append(out, fieldProblem{name, msg})
		}
	}
	return out
}

// fieldMessage says why a field was refused in the reader's language,
// naming the field by its label (the catalogue's labelKey): reason is one
// of env.FieldError's reasons, or out_of_scope.
func (c *Console) fieldMessage(r *http.Request, labelKey, reason string, args ...any) string {
	cat := c.catalogues[langOf(r)]
	format, ok := cat["invalid."+reason]
	if !ok {
		format = cat["invalid.other"]
	}
	label := cat[labelKey]
	if langOf(r) == en {
		// Mid-sentence: "Enter the system name."
		label = strings.ToLower(label[:1]) + label[1:]
	}
	return fmt.Sprintf(format, append([]any{label}, args...)...)
}
