package web

import (
	"net/http"
	"strings"

	"github.com/hatoba-cloud/hatoba/internal/api"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/org"
	"github.com/hatoba-cloud/hatoba/internal/vending"
)

// envsPerPage is the page size of /envs.
const envsPerPage = 25

// envListPage is the data of /envs.
type envListPage struct {
	States      []env.State
	State       env.State
	StateError  string
	Rows        []envRow
	Cursor      string
	NextCursor  string
	LiveUpdates bool
	CanRequest  bool
}

func (c *Console) envList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p := envListPage{States: env.States, State: env.State(q.Get("state")), Cursor: q.Get("cursor"),
		CanRequest: mayAnywhere(c.api.Authz, me(r).principal, authz.RequestEnv)}
	within, err := c.within(r, authz.ReadEnvs)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	page, err := c.api.Envs.List(r.Context(), env.ListParams{State: p.State, Cursor: p.Cursor, Limit: envsPerPage, Within: within})
	if err != nil {
		// A filter the store does not know is the user's to fix, next to
		// the filter; the page shows no rows rather than all of them.
		if fe, ok := fault.As(err); ok && fe.Kind == fault.Invalid {
			p.StateError = fe.Message
			c.render(w, r, http.StatusBadRequest, "envs", "envs", p)
			return
		}
		c.fail(w, r, err)
		return
	}
	if p.Rows, err = c.envRows(r, page.Items); err != nil {
		c.fail(w, r, err)
		return
	}
	p.NextCursor = page.NextCursor
	for _, row := range p.Rows {
		if !isFinal(row.State) {
			p.LiveUpdates = true
		}
	}
	c.render(w, r, http.StatusOK, "envs", "envs", p)
}

// envPage is the data of /envs/{id}.
type envPage struct {
	api.EnvironmentDetail
	Org org.Organization
	// FormError is a refused approve/reject/retry form's message.
	FormError *formError
	// Can is which operator actions the caller may take on it.
	Can envActions
	// AccessLink leads to the people holding its permission sets.
	AccessLink bool
	// PostureLink leads to its compliance posture (posture.go),
	// SovereigntyLink to its sovereignty and exposure (sovereignty.go).
	PostureLink     bool
	SovereigntyLink bool
	// CloseWaitsForQuota says, in the page's language, that the closure
	// waits for the provider's closure quota (the state reason is the
	// workflow's, in English).
	CloseWaitsForQuota bool
}

// envActions are the operator actions a caller may take on an environment;
// the pages offer only those, and the action's own route decides again.
type envActions struct {
	Decide   bool
	Retry    bool
	Transfer bool
	Close    bool
}

// actionForms is the data of the "actions" template: an environment's
// operator forms, on its own page or in the approval queue.
type actionForms struct {
	Env   env.Environment
	CSRF  string
	From  string
	Error *formError
	Can   envActions
}

// formError places a refused action's message next to its field.
type formError struct {
	EnvID   string
	Field   string
	Message string
	// Value is what the user typed, so a refused form keeps it.
	Value string
}

// envResource names an environment for the decision point.
func envResource(e env.Environment) authz.Resource {
	return authz.Resource{Kind: "environment", ID: e.ID, OrgID: e.OrgID}
}

// actionsOn is what the caller may do to e.
func (c *Console) actionsOn(r *http.Request, e env.Environment) envActions {
	return envActions{Decide: c.may(r, authz.DecideEnv, envResource(e)), Retry: c.may(r, authz.RetryEnv, envResource(e)),
		Transfer: c.may(r, authz.TransferEnv, envResource(e)), Close: c.may(r, authz.CloseEnv, envResource(e))}
}

func (c *Console) envDetail(w http.ResponseWriter, r *http.Request) {
	c.renderEnv(w, r, http.StatusOK, r.PathValue("id"), nil)
}

func (c *Console) renderEnv(w http.ResponseWriter, r *http.Request, status int, id string, fe *formError) {
	ctx := r.Context()
	// The environment's organisation decides who may see it; outside the
	// caller's scope it reads exactly like a missing one.
	e, err := c.api.Envs.Get(ctx, c.api.DB, id)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if _, err := c.decide(r, authz.ReadEnvs, envResource(e)); err != nil {
		c.fail(w, r, err)
		return
	}
	d, err := c.api.Detail(ctx, id)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	o, err := c.orgOrPlaceholder(r, d.OrgID)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, status, "env", "envs", envPage{EnvironmentDetail: d, Org: o, FormError: fe, Can: c.actionsOn(r, d.Environment),
		AccessLink: c.api.EnvAccess != nil, PostureLink: c.api.Posture != nil && c.engine() != nil && c.api.Assignments != nil,
		SovereigntyLink:    c.api.Sovereignty != nil,
		CloseWaitsForQuota: d.State == env.Closing && strings.HasPrefix(d.StateReason, vending.CloseWaitingForQuota)})
}
