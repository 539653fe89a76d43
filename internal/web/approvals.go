package web

import (
	"context"
	"net/http"
	"net/url"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/fault"
)

// approvalsPage is the data of /approvals, the central approval queue.
type approvalsPage struct {
	Rows       []approvalRow
	Cursor     string
	NextCursor string
	FormError  *formError
}

// approvalRow is a waiting request and what the caller may do about it.
type approvalRow struct {
	envRow
	Can envActions
}

// approvalsPerPage is the page size of the queue.
const approvalsPerPage = 50

// approvalsPath is the queue's address, which its forms send as "from".
const approvalsPath = "/approvals"

func (c *Console) approvalQueue(w http.ResponseWriter, r *http.Request) {
	c.renderApprovals(w, r, http.StatusOK, r.URL.Query().Get("cursor"), nil)
}

func (c *Console) renderApprovals(w http.ResponseWriter, r *http.Request, status int, cursor string, fe *formError) {
	// The queue lists what the caller may read of environments, as the
	// API's /approvals does: the approval permission itself is platform-wide.
	within, err := c.within(r, authz.ReadEnvs)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	page, err := c.api.Envs.List(r.Context(), env.ListParams{State: env.Requested, Cursor: cursor, Limit: approvalsPerPage, Within: within})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	p := approvalsPage{Cursor: cursor, NextCursor: page.NextCursor, FormError: fe}
	rows, err := c.envRows(r, page.Items)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	for _, row := range rows {
		p.Rows = append(p.Rows, approvalRow{envRow: row, Can: c.actionsOn(r, row.Environment)})
	}
	c.render(w, r, status, "approvals", "approvals", p)
}

func (c *Console) approve(w http.ResponseWriter, r *http.Request) {
	c.act(w, r, authz.DecideEnv, "approved", func(ctx context.Context, id, who string, form url.Values) (env.Environment, error) {
		return c.api.Vending.Approve(ctx, id, who, form.Get("note"))
	})
}

func (c *Console) reject(w http.ResponseWriter, r *http.Request) {
	c.act(w, r, authz.DecideEnv, "rejected", func(ctx context.Context, id, who string, form url.Values) (env.Environment, error) {
		return c.api.Vending.Reject(ctx, id, who, form.Get("reason"))
	})
}

func (c *Console) transfer(w http.ResponseWriter, r *http.Request) {
	c.act(w, r, authz.TransferEnv, "transferred", func(ctx context.Context, id, who string, form url.Values) (env.Environment, error) {
		if form.Get("org_id") == "" {
			return env.Environment{}, fault.InvalidField("org_id", "org_id of the receiving organisation is required")
		}
		return c.api.Vending.Transfer(ctx, id, form.Get("org_id"), who)
	})
}

func (c *Console) closeEnv(w http.ResponseWriter, r *http.Request) {
	c.act(w, r, authz.CloseEnv, "closing", func(ctx context.Context, id, who string, form url.Values) (env.Environment, error) {
		return c.api.Vending.Close(ctx, id, who, form.Get("close_reason"))
	})
}

func (c *Console) retry(w http.ResponseWriter, r *http.Request) {
	c.act(w, r, authz.RetryEnv, "retried", func(ctx context.Context, id, who string, _ url.Values) (env.Environment, error) {
		return c.api.Vending.Retry(ctx, id, who)
	})
}

// act runs an operator's action on environment {id}, once the decision
// point allows it on that environment, and sends the browser back to the
// page the form was on (the queue or the environment) with a confirmation.
// A refused input (a rejection without a reason) draws that page again with
// the message next to the field.
func (c *Console) act(w http.ResponseWriter, r *http.Request, action authz.Action, notice string,
	do func(ctx context.Context, id, who string, form url.Values) (env.Environment, error)) {
	ctx := r.Context()
	id := r.PathValue("id")
	e, err := c.api.Envs.Get(ctx, c.api.DB, id)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d, err := c.decide(r, action, envResource(e))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	fromQueue := r.PostForm.Get("from") == approvalsPath
	if _, err := do(ctx, id, actor(r, d), r.PostForm); err != nil {
		if fe, ok := fault.As(err); ok && fe.Kind == fault.Invalid {
			ferr := &formError{EnvID: id, Field: fe.Field, Message: fe.Message, Value: r.PostForm.Get(fe.Field)}
			if fromQueue {
				c.renderApprovals(w, r, http.StatusUnprocessableEntity, "", ferr)
			} else {
				c.renderEnv(w, r, http.StatusUnprocessableEntity, id, ferr)
			}
			return
		}
		c.fail(w, r, err)
		return
	}
	back := "/envs/" + url.PathEscape(id)
	if fromQueue {
		back = approvalsPath
	}
	http.Redirect(w, r, back+"?"+url.Values{"notice": {notice}, "env": {id}}.Encode(), http.StatusSeeOther)
}
