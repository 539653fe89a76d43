package web

import (
	"net/http"

	"github.com/hatoba-cloud/hatoba/internal/api"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/org"
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
}

func (c *Console) envList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p := envListPage{States: env.States, State: env.State(q.Get("state")), Cursor: q.Get("cursor")}
	page, err := c.api.Envs.List(r.Context(), env.ListParams{State: p.State, Cursor: p.Cursor, Limit: envsPerPage})
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
}

// actionForms is the data of the "actions" template: an environment's
// operator forms, on its own page or in the approval queue.
type actionForms struct {
	Env   env.Environment
	CSRF  string
	From  string
	Error *formError
}

// formError places a refused action's message next to its field.
type formError struct {
	EnvID   string
	Field   string
	Message string
	// Value is what the user typed, so a refused form keeps it.
	Value string
}

func (c *Console) envDetail(w http.ResponseWriter, r *http.Request) {
	c.renderEnv(w, r, http.StatusOK, r.PathValue("id"), nil)
}

func (c *Console) renderEnv(w http.ResponseWriter, r *http.Request, status int, id string, fe *formError) {
	d, err := c.api.Detail(r.Context(), id)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	o, err := c.orgOrPlaceholder(r, d.OrgID)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, status, "env", "envs", envPage{EnvironmentDetail: d, Org: o, FormError: fe})
}
