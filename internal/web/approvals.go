package web

import (
	"context"
	"net/http"
	"net/url"

	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/fault"
)

// approvalsPage is the data of /approvals, the central approval queue.
type approvalsPage struct {
	Rows       []envRow
	Cursor     string
	NextCursor string
	FormError  *formError
}

// approvalsPerPage is the page size of the queue.
const approvalsPerPage = 50

// approvalsPath is the queue's address, which its forms send as "from".
const approvalsPath = "/approvals"

func (c *Console) approvalQueue(w http.ResponseWriter, r *http.Request) {
	c.renderApprovals(w, r, http.StatusOK, r.URL.Query().Get("cursor"), nil)
}

func (c *Console) renderApprovals(w http.ResponseWriter, r *http.Request, status int, cursor string, fe *formError) {
	page, err := c.api.Envs.List(r.Context(), env.ListParams{State: env.Requested, Cursor: cursor, Limit: approvalsPerPage})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	p := approvalsPage{Cursor: cursor, NextCursor: page.NextCursor, FormError: fe}
	if p.Rows, err = c.envRows(r, page.Items); err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, status, "approvals", "approvals", p)
}

func (c *Console) approve(w http.ResponseWriter, r *http.Request) {
	c.decide(w, r, "approved", func(ctx context.Context, id string, form url.Values) (env.Environment, error) {
		return c.api.Vending.Approve(ctx, id, consoleActor, form.Get("note"))
	})
}

func (c *Console) reject(w http.ResponseWriter, r *http.Request) {
	c.decide(w, r, "rejected", func(ctx context.Context, id string, form url.Values) (env.Environment, error) {
		return c.api.Vending.Reject(ctx, id, consoleActor, form.Get("reason"))
	})
}

func (c *Console) retry(w http.ResponseWriter, r *http.Request) {
	c.decide(w, r, "retried", func(ctx context.Context, id string, _ url.Values) (env.Environment, error) {
		return c.api.Vending.Retry(ctx, id, consoleActor)
	})
}

// decide runs an operator's action on environment {id} and sends the
// browser back to the page the form was on (the queue or the environment)
// with a confirmation. A refused input (a rejection without a reason) draws
// that page again with the message next to the field.
func (c *Console) decide(w http.ResponseWriter, r *http.Request, notice string,
	act func(ctx context.Context, id string, form url.Values) (env.Environment, error)) {
	if !c.parseForm(w, r) {
		return
	}
	id := r.PathValue("id")
	fromQueue := r.PostForm.Get("from") == approvalsPath
	if _, err := act(r.Context(), id, r.PostForm); err != nil {
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
