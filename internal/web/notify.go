package web

import (
	"net/http"
	"net/url"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/notify"
	"github.com/hatoba-cloud/hatoba/internal/org"
)

// Notifications (docs/notifications.md): an organisation's page
// (/orgs/{id}/notify) — its inbox of central's notices, its channels with a
// test send, its outbox with the dead letters and their resend, its
// suppressions — and central's (/notify): the signed critical digests and
// the notices it sent. /notify takes a tenant's person to their own
// organisation's page.

var errNoNotify = &fault.Error{Kind: fault.Unavailable, Message: "this server routes no notifications"}

type noticeRow struct {
	notify.Notice
	Org          org.Organization
	SentBy       actorRef
	AnsweredBy   actorRef
	CanAnswer    bool
	Acknowledged bool
}

// noticeTable is the notices' table, on both pages.
type noticeTable struct {
	Rows    []noticeRow
	CSRF    string
	ShowOrg bool
}

type notifyPage struct {
	Org org.Organization
	// Detail: the reader sees channels, deliveries and suppressions (the
	// tenant's, an auditor's); else the inbox only.
	Detail       bool
	CanManage    bool
	Notices      noticeTable
	Channels     []notify.Channel
	Deliveries   []notify.Delivery
	Dead         int
	Suppressions []notify.Suppression
}

type notifyCentralPage struct {
	Digests []notify.StoredDigest
	Notices noticeTable
}

func (c *Console) notifyHome(w http.ResponseWriter, r *http.Request) {
	if c.api.Notify == nil {
		c.fail(w, r, errNoNotify)
		return
	}
	p := me(r).principal
	if p.OrgID != "" {
		http.Redirect(w, r, "/orgs/"+url.PathEscape(p.OrgID)+"/notify", http.StatusSeeOther)
		return
	}
	page := notifyCentralPage{Notices: noticeTable{CSRF: csrfToken(me(r).secret), ShowOrg: true}}
	if c.may(r, authz.ReadDigest, authz.Resource{}) {
		var err error
		if page.Digests, err = c.api.Notify.Digests(r.Context(), 30); err != nil {
			c.fail(w, r, err)
			return
		}
		ns, err := c.api.Notify.Notices(r.Context(), "")
		if err != nil {
			c.fail(w, r, err)
			return
		}
		if page.Notices.Rows, err = c.noticeRows(r, ns, false); err != nil {
			c.fail(w, r, err)
			return
		}
	}
	c.render(w, r, http.StatusOK, "notify", "notify", map[string]any{"Central": true, "C": page})
}

func (c *Console) noticeRows(r *http.Request, ns []notify.Notice, canAnswer bool) ([]noticeRow, error) {
	names := c.nameBook(r)
	orgs := map[string]org.Organization{}
	rows := make([]noticeRow, 0, len(ns))
	for _, n := range ns {
		row := noticeRow{Notice: n, CanAnswer: canAnswer && n.State != "fixed", Acknowledged: n.State != "sent"}
		o, ok := orgs[n.OrgID]
		if !ok {
			var err error
			if o, err = c.orgOrPlaceholder(r, n.OrgID); err != nil {
				return nil, err
			}
			orgs[n.OrgID] = o
		}
		row.Org = o
		var err error
		if row.SentBy, err = names.actor(n.SentBy); err != nil {
			return nil, err
		}
		if row.AnsweredBy, err = names.actor(firstNonEmpty(n.FixedBy, n.AcknowledgedBy)); err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func (c *Console) orgNotify(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	_, err := c.decide(r, authz.ReadNotices, authz.Resource{Kind: "organisation", ID: id, OrgID: id})
	if err == nil && c.api.Notify == nil {
		err = errNoNotify
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	ctx := r.Context()
	res := authz.Resource{Kind: "organisation", ID: id, OrgID: id}
	p := notifyPage{Detail: c.may(r, authz.ReadNotify, res), CanManage: c.may(r, authz.ManageNotify, res),
		Notices: noticeTable{CSRF: csrfToken(me(r).secret)}}
	if p.Org, err = c.orgOrPlaceholder(r, id); err != nil {
		c.fail(w, r, err)
		return
	}
	ns, err := c.api.Notify.Notices(ctx, id)
	if err == nil {
		p.Notices.Rows, err = c.noticeRows(r, ns, c.may(r, authz.AnswerNotice, res))
	}
	if err == nil && p.Detail {
		if p.Channels, err = c.api.Notify.Channels(ctx, id); err == nil {
			if p.Deliveries, err = c.api.Notify.Deliveries(ctx, id, "", 50); err == nil {
				p.Suppressions, err = c.api.Notify.Suppressions(ctx, id, false)
			}
		}
		for _, d := range p.Deliveries {
			if d.State == notify.Dead {
				p.Dead++
			}
		}
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, http.StatusOK, "notify", "notify", map[string]any{"Central": false, "O": p})
}

// notifyAct runs one of the organisation page's buttons and comes back to
// it with a notice.
func (c *Console) notifyAct(w http.ResponseWriter, r *http.Request, action authz.Action, do func(actor, grant, org string) error, notice string) {
	id := r.PathValue("id")
	d, err := c.decide(r, action, authz.Resource{Kind: "organisation", ID: id, OrgID: id})
	if err == nil && c.api.Notify == nil {
		err = errNoNotify
	}
	if err == nil {
		err = do(me(r).principal.PersonID, d.GrantID, id)
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/orgs/"+url.PathEscape(id)+"/notify?notice="+notice, http.StatusSeeOther)
}

func (c *Console) testNotifyChannel(w http.ResponseWriter, r *http.Request) {
	c.notifyAct(w, r, authz.ManageNotify, func(actor, grant, org string) error {
		_, err := c.api.Notify.TestChannel(r.Context(), actor, grant, org, r.PathValue("channel"))
		return err
	}, "notify_test_queued")
}

func (c *Console) retryNotifyDelivery(w http.ResponseWriter, r *http.Request) {
	c.notifyAct(w, r, authz.ManageNotify, func(actor, grant, org string) error {
		_, err := c.api.Notify.Redeliver(r.Context(), actor, grant, org, r.PathValue("delivery"))
		return err
	}, "notify_retry_queued")
}

func (c *Console) acknowledgeNotifyNotice(w http.ResponseWriter, r *http.Request) {
	c.notifyAct(w, r, authz.AnswerNotice, func(actor, grant, org string) error {
		_, err := c.api.Notify.AnswerNotice(r.Context(), actor, grant, org, r.PathValue("notice"), "acknowledged", "")
		return err
	}, "notify_acknowledged")
}

func (c *Console) fixNotifyNotice(w http.ResponseWriter, r *http.Request) {
	c.notifyAct(w, r, authz.AnswerNotice, func(actor, grant, org string) error {
		_, err := c.api.Notify.AnswerNotice(r.Context(), actor, grant, org, r.PathValue("notice"), "fixed", r.PostForm.Get("note"))
		return err
	}, "notify_fixed")
}
