package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/breakglass"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/mfa"
	"github.com/hatoba-cloud/hatoba/internal/org"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// Break-glass access (/access): a central operator files a request for a
// tenant's scope; an administrator of that tenant and a second central
// operator approve it, each with a fresh touch of their security key; the
// grant ends at its expiry, or earlier when the tenant revokes it or the
// requester gives it back. package breakglass holds every rule; the pages
// show where a request stands and offer what the caller may do.
//
// Approving and denying need a WebAuthn assertion bound to that one
// decision (mfa.BeginAssertionFor with the purpose
// "break-glass/<approve|deny>/<id>"): a touch given for one request cannot
// be spent on another, nor on anything else. The approve and deny forms
// lead to a confirmation page that shows what is decided and runs the
// ceremony (webauthn.js); its finish endpoint checks the assertion and
// decides in the same request. The session's own confirmation is neither
// needed nor renewed by it.

// accessRequestsShown bounds the listing; breakglass lists newest first.
const accessRequestsShown = 200

// maxAccessNote bounds a decision's note.
const maxAccessNote = 1000

// accessRow is a request with its organisation and people resolved.
type accessRow struct {
	breakglass.Request
	Org       org.Organization
	Requester actorRef
	// WaitsForMe: pending, and the caller may give the half it lacks.
	WaitsForMe bool
}

// accessListPage is the data of /access.
type accessListPage struct {
	Rows    []accessRow
	CanFile bool
	Form    fileForm
	Errors  map[string]string
	Problem string
	// Durations are the choices of the form, up to breakglass's maximum.
	Durations []time.Duration
	// The organisation picker, as on the environment request form.
	OrgQuery    string
	OrgResults  []org.Organization
	OrgSearched bool
	OrgMore     bool
	SelectedOrg *org.Organization
}

type fileForm struct {
	OrgID    string
	Reason   string
	Duration time.Duration
}

// errBreakGlassUnavailable: a server without breakglass wired.
var errBreakGlassUnavailable = &fault.Error{Kind: fault.Unavailable, Message: "break-glass access is not configured on this server"}

// durationChoices are the lengths the form offers: the usual ones up to
// max, and max itself.
func durationChoices(max time.Duration) []time.Duration {
	var out []time.Duration
	for _, d := range []time.Duration{15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour, 12 * time.Hour, 24 * time.Hour} {
		if d >= breakglass.MinDuration && d <= max {
			out = append(out, d)
		}
	}
	if max >= breakglass.MinDuration && !slices.Contains(out, max) {
		out = append(out, max)
	}
	return out
}

func (c *Console) accessList(w http.ResponseWriter, r *http.Request) {
	if c.api.BreakGlass == nil {
		c.fail(w, r, errBreakGlassUnavailable)
		return
	}
	q := r.URL.Query()
	f := fileForm{OrgID: strings.TrimSpace(q.Get("org_id")), Duration: time.Hour}
	if d, err := time.ParseDuration(q.Get("duration")); err == nil {
		f.Duration = d
	}
	c.renderAccessList(w, r, http.StatusOK, accessListPage{Form: f, OrgQuery: strings.TrimSpace(q.Get("org_q")), Errors: map[string]string{}})
}

func (c *Console) renderAccessList(w http.ResponseWriter, r *http.Request, status int, p accessListPage) {
	ctx := r.Context()
	within, err := c.within(r, authz.ReadAccess)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	reqs, err := c.api.BreakGlass.List(ctx, within, within == nil, accessRequestsShown)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if p.Rows, err = c.accessRows(r, reqs); err != nil {
		c.fail(w, r, err)
		return
	}
	p.CanFile = authz.Allows(me(r).principal, authz.RequestAccess)
	if p.CanFile {
		p.Durations = durationChoices(c.api.BreakGlass.MaxDuration())
		if !slices.Contains(p.Durations, p.Form.Duration) && len(p.Durations) > 0 {
			p.Form.Duration = p.Durations[0]
		}
		if p.OrgQuery != "" {
			page, err := c.api.Orgs.List(ctx, org.ListParams{Query: p.OrgQuery, Limit: orgPickerResults})
			switch {
			case fault.KindOf(err) == fault.Invalid:
				p.Errors["org_q"] = messageOf(err)
			case err != nil:
				c.fail(w, r, err)
				return
			default:
				p.OrgSearched, p.OrgResults, p.OrgMore = true, page.Items, page.NextCursor != ""
			}
		}
		if p.Form.OrgID != "" {
			o, err := c.api.Orgs.Get(ctx, p.Form.OrgID)
			switch {
			case err == nil:
				p.SelectedOrg = &o
			case fault.KindOf(err) != fault.NotFound:
				c.fail(w, r, err)
				return
			}
		}
	}
	c.render(w, r, status, "access", "access", p)
}

// accessRows resolves the requests' organisations and requesters and says
// which wait for the caller.
func (c *Console) accessRows(r *http.Request, reqs []breakglass.Request) ([]accessRow, error) {
	names := c.nameBook(r)
	orgs := map[string]org.Organization{}
	rows := make([]accessRow, 0, len(reqs))
	for _, req := range reqs {
		o, seen := orgs[req.OrgID]
		if !seen {
			var err error
			if o, err = c.orgOrPlaceholder(r, req.OrgID); err != nil {
				return nil, err
			}
			orgs[req.OrgID] = o
		}
		requester, err := names.actor(req.RequesterID)
		if err != nil {
			return nil, err
		}
		rows = append(rows, accessRow{Request: req, Org: o, Requester: requester, WaitsForMe: c.mayDecide(r, req)})
	}
	return rows, nil
}

// mayDecide reports whether the caller may approve or deny req now, with a
// touch of their key: it is pending, the caller did not file it, and the
// half their role gives is still open. breakglass decides again.
func (c *Console) mayDecide(r *http.Request, req breakglass.Request) bool {
	p := me(r).principal
	if req.State != breakglass.Pending || p.PersonID == req.RequesterID {
		return false
	}
	switch p.Role {
	case authz.TenantAdmin:
		if req.TenantApproverID != "" {
			return false
		}
	case authz.CentralOperator:
		if req.OperatorApproverID != "" {
			return false
		}
	default:
		return false
	}
	// The second factor is asked for on the way: a refusal that only
	// lacks it still offers the buttons.
	_, err := c.decide(r, authz.ApproveAccess, accessResource(req))
	return err == nil || isSecondFactor(err)
}

// mayRevoke reports whether to offer ending req: to the tenant's
// administrators while it is pending or live, and to its requester (who
// withdraws it, or gives the grant back).
func (c *Console) mayRevoke(r *http.Request, req breakglass.Request) bool {
	p := me(r).principal
	if req.State != breakglass.Pending && !req.Live(c.now()) {
		return false
	}
	if p.Role == authz.CentralOperator && p.PersonID != req.RequesterID {
		return false
	}
	return c.may(r, authz.RevokeAccess, accessResource(req))
}

func accessResource(req breakglass.Request) authz.Resource {
	return authz.Resource{Kind: "access request", ID: req.ID, OrgID: req.OrgID}
}

func accessPath(id string) string { return "/access/" + url.PathEscape(id) }

// fileAccess files a central operator's request.
func (c *Console) fileAccess(w http.ResponseWriter, r *http.Request) {
	if c.api.BreakGlass == nil {
		c.fail(w, r, errBreakGlassUnavailable)
		return
	}
	pf := r.PostForm
	f := fileForm{OrgID: strings.TrimSpace(pf.Get("org_id")), Reason: pf.Get("reason")}
	p := accessListPage{Form: f, Errors: map[string]string{}}
	d, err := time.ParseDuration(pf.Get("duration"))
	if err != nil {
		p.Errors["duration"] = c.message(r, "access.choose_duration")
		c.renderAccessList(w, r, http.StatusUnprocessableEntity, p)
		return
	}
	p.Form.Duration = d
	req, err := c.api.BreakGlass.File(r.Context(), me(r).principal, f.OrgID, f.Reason, d)
	if err != nil {
		fe, _ := fault.As(err)
		switch fault.KindOf(err) {
		case fault.Invalid:
			if fe.Field != "" {
				p.Errors[fe.Field] = fe.Message
			} else {
				p.Problem = fe.Message
			}
			c.renderAccessList(w, r, http.StatusUnprocessableEntity, p)
		case fault.Conflict:
			p.Problem = fe.Message
			c.renderAccessList(w, r, http.StatusConflict, p)
		default:
			c.fail(w, r, err)
		}
		return
	}
	http.Redirect(w, r, accessPath(req.ID)+"?notice=access_filed", http.StatusSeeOther)
}

// accessPage is the data of /access/{id}.
type accessPage struct {
	accessRow
	TenantApprover   actorRef
	OperatorApprover actorRef
	DecidedBy        actorRef
	Timeline         []timelineItem
	Live             bool
	CanDecide        bool
	CanRevoke        bool
	// Withdraw: the caller filed it and it is still pending.
	Withdraw bool
	Problem  string
}

// timelineItem is one step of a request, from its recorded fields.
type timelineItem struct {
	At time.Time
	// Key names the step in the catalogue (access.step.*).
	Key  string
	Who  actorRef
	Note string
	// Future marks a step still to come (the grant's end).
	Future bool
}

// loadAccess loads the route's request if the caller may see it; outside
// the caller's scope it reads like a missing one.
func (c *Console) loadAccess(r *http.Request) (breakglass.Request, error) {
	if c.api.BreakGlass == nil {
		return breakglass.Request{}, errBreakGlassUnavailable
	}
	return c.api.BreakGlass.Get(r.Context(), me(r).principal, r.PathValue("id"))
}

func (c *Console) accessDetail(w http.ResponseWriter, r *http.Request) {
	c.renderAccess(w, r, http.StatusOK, "")
}

func (c *Console) renderAccess(w http.ResponseWriter, r *http.Request, status int, problem string) {
	req, err := c.loadAccess(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	rows, err := c.accessRows(r, []breakglass.Request{req})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	now := c.now()
	p := accessPage{accessRow: rows[0], Live: req.Live(now), Problem: problem}
	names := c.nameBook(r)
	for _, ref := range []struct {
		dst *actorRef
		id  string
	}{{&p.TenantApprover, req.TenantApproverID}, {&p.OperatorApprover, req.OperatorApproverID}, {&p.DecidedBy, req.DecidedBy}} {
		if *ref.dst, err = names.actor(ref.id); err != nil {
			c.fail(w, r, err)
			return
		}
	}
	p.Timeline = accessTimeline(p, now)
	p.CanDecide = p.WaitsForMe
	p.CanRevoke = c.mayRevoke(r, req)
	p.Withdraw = req.State == breakglass.Pending && req.RequesterID == me(r).principal.PersonID
	c.render(w, r, status, "access_request", "access", p)
}

// accessTimeline tells a request's story from its fields: filed, each
// approval, the grant and its end, or how it ended early. Every step is
// also in the audit log, in the step's own transaction.
func accessTimeline(p accessPage, now time.Time) []timelineItem {
	req := p.Request
	items := []timelineItem{{At: req.CreatedAt, Key: "filed", Who: p.Requester, Note: req.Reason}}
	if req.TenantApprovedAt != nil {
		items = append(items, timelineItem{At: *req.TenantApprovedAt, Key: "tenant_approved", Who: p.TenantApprover})
	}
	if req.OperatorApprovedAt != nil {
		items = append(items, timelineItem{At: *req.OperatorApprovedAt, Key: "operator_approved", Who: p.OperatorApprover})
	}
	if req.StartsAt != nil {
		items = append(items, timelineItem{At: *req.StartsAt, Key: "granted"})
	}
	switch req.State {
	case breakglass.Denied, breakglass.Revoked, breakglass.Withdrew:
		items = append(items, timelineItem{At: req.UpdatedAt, Key: string(req.State), Who: p.DecidedBy, Note: req.DecisionNote})
	case breakglass.Active, breakglass.Expired:
		if req.ExpiresAt != nil {
			it := timelineItem{At: *req.ExpiresAt, Key: "expired"}
			if now.Before(*req.ExpiresAt) {
				it.Key, it.Future = "expires", true
			}
			items = append(items, it)
		}
	}
	slices.SortStableFunc(items, func(a, b timelineItem) int { return a.At.Compare(b.At) })
	return items
}

// revokeAccess ends a pending or live request: the tenant at any time, the
// requester to withdraw it or give the grant back.
func (c *Console) revokeAccess(w http.ResponseWriter, r *http.Request) {
	req, err := c.loadAccess(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	note := strings.TrimSpace(r.PostForm.Get("note"))
	if utf8.RuneCountInString(note) > maxAccessNote {
		c.renderAccess(w, r, http.StatusUnprocessableEntity, c.message(r, "access.note_too_long"))
		return
	}
	out, err := c.api.BreakGlass.Revoke(r.Context(), me(r).principal, req.ID, note)
	if err != nil {
		if fe, ok := fault.As(err); ok && (fe.Kind == fault.Conflict || fe.Kind == fault.Forbidden) && !isSecondFactor(err) {
			c.renderAccess(w, r, http.StatusConflict, fe.Message)
			return
		}
		c.fail(w, r, err)
		return
	}
	notice := "access_revoked"
	if out.State == breakglass.Withdrew {
		notice = "access_withdrawn"
	}
	http.Redirect(w, r, accessPath(req.ID)+"?notice="+notice, http.StatusSeeOther)
}

// decisionPurpose binds a security-key assertion to one decision on one
// request.
func decisionPurpose(decision, id string) string { return "break-glass/" + decision + "/" + id }

// accessConfirmPage is the data of the confirmation page: what is about to
// be decided, and the ceremony that decides it.
type accessConfirmPage struct {
	accessRow
	Decision string
	Note     string
	// Begin and Finish are the ceremony's endpoints; Finish carries the
	// note, which the assertion's finish request decides with.
	Begin, Finish string
}

func (c *Console) confirmApprove(w http.ResponseWriter, r *http.Request) {
	c.confirmDecision(w, r, "approve")
}
func (c *Console) confirmDeny(w http.ResponseWriter, r *http.Request) {
	c.confirmDecision(w, r, "deny")
}

// confirmDecision answers the approve and deny forms with the page that
// asks for the key. Nothing is decided yet.
func (c *Console) confirmDecision(w http.ResponseWriter, r *http.Request, decision string) {
	req, err := c.loadAccess(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	note := strings.TrimSpace(r.PostForm.Get("note"))
	if utf8.RuneCountInString(note) > maxAccessNote {
		c.renderAccess(w, r, http.StatusUnprocessableEntity, c.message(r, "access.note_too_long"))
		return
	}
	if !c.mayDecide(r, req) {
		if _, err := c.decide(r, authz.ApproveAccess, accessResource(req)); err != nil && !isSecondFactor(err) {
			c.fail(w, r, err)
			return
		}
		c.renderAccess(w, r, http.StatusConflict, c.message(r, "access.not_yours_to_decide"))
		return
	}
	rows, err := c.accessRows(r, []breakglass.Request{req})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	base := accessPath(req.ID) + "/" + decision
	finish := base + "/finish"
	if note != "" {
		finish += "?" + url.Values{"note": {note}}.Encode()
	}
	c.render(w, r, http.StatusOK, "access_confirm", "access", accessConfirmPage{accessRow: rows[0], Decision: decision, Note: note,
		Begin: base + "/begin", Finish: finish})
}

func (c *Console) approveBegin(w http.ResponseWriter, r *http.Request) {
	c.decisionBegin(w, r, "approve")
}
func (c *Console) denyBegin(w http.ResponseWriter, r *http.Request) { c.decisionBegin(w, r, "deny") }
func (c *Console) approveFinish(w http.ResponseWriter, r *http.Request) {
	c.decisionFinish(w, r, "approve")
}
func (c *Console) denyFinish(w http.ResponseWriter, r *http.Request) { c.decisionFinish(w, r, "deny") }

// decisionBegin starts the assertion for one decision on one request.
func (c *Console) decisionBegin(w http.ResponseWriter, r *http.Request, decision string) {
	req, err := c.loadAccess(r)
	if err != nil {
		c.failJSON(w, r, err)
		return
	}
	if req.State != breakglass.Pending {
		c.failJSON(w, r, fault.Conflictf("access request %s is %s; only a pending request can be approved or denied", req.ID, req.State))
		return
	}
	id, opts, err := c.mfa.BeginAssertionFor(r.Context(), mfaPerson(me(r)), decisionPurpose(decision, req.ID))
	if err != nil {
		c.failJSON(w, r, mfaRefusal(err))
		return
	}
	c.writeJSON(w, r, mfa.BeginReply{Ceremony: id, Options: opts})
}

// decisionFinish checks the assertion begun for this decision and, with
// it, decides: the principal breakglass sees has just passed its second
// factor, for this one action.
func (c *Console) decisionFinish(w http.ResponseWriter, r *http.Request, decision string) {
	v := me(r)
	req, err := c.loadAccess(r)
	if err != nil {
		c.failJSON(w, r, err)
		return
	}
	note := strings.TrimSpace(r.URL.Query().Get("note"))
	if utf8.RuneCountInString(note) > maxAccessNote {
		c.failJSON(w, r, fault.InvalidField("note", "the note may be at most %d characters", maxAccessNote))
		return
	}
	fr, err := mfa.ReadFinishRequest(r.Body)
	if err != nil {
		c.failJSON(w, r, err)
		return
	}
	ctx := r.Context()
	purpose := decisionPurpose(decision, req.ID)
	if _, err := c.mfa.FinishAssertionFor(ctx, mfaPerson(v), purpose, fr.Ceremony, fr.Credential, c.recordConfirmation(r, v, req, purpose)); err != nil {
		c.failJSON(w, r, mfaRefusal(err))
		return
	}
	p := v.principal
	p.SecondFactorAt = c.now()
	do := c.api.BreakGlass.Approve
	notice := "access_approved"
	if decision == "deny" {
		do, notice = c.api.BreakGlass.Deny, "access_denied"
	}
	if _, err := do(ctx, p, req.ID, note); err != nil {
		if errors.Is(err, authz.ErrSecondFactor) {
			// Not expected: the assertion just passed. Say it plainly
			// rather than loop.
			c.log.Error("console: break-glass decision refused for want of a second factor right after one", "request", req.ID, "err", err)
		}
		c.failJSON(w, r, err)
		return
	}
	c.writeJSON(w, r, mfa.FinishReply{Redirect: accessPath(req.ID) + "?notice=" + notice})
}

// recordConfirmation writes, with the key's use, which key confirmed
// which decision: about the request's tenant, so the tenant sees it too.
func (c *Console) recordConfirmation(r *http.Request, v *visitor, req breakglass.Request, purpose string) mfa.Also {
	return func(tx *store.Tx, cred mfa.Credential) error {
		return audit.Append(r.Context(), tx, audit.Entry{Actor: v.person.ID, Action: "mfa.assertion", OrgID: req.OrgID,
			Target: req.ID, Details: map[string]any{"credential": cred.ID, "name": cred.Name, "purpose": purpose}})
	}
}
