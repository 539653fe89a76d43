package web

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/assignments"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/org"
	"github.com/hatoba-cloud/hatoba/internal/portability"
	"github.com/hatoba-cloud/hatoba/internal/posture"
)

// An environment's posture (/envs/{id}/posture): its score and findings,
// read like the environment itself; "collect now" for those who run it;
// and, for the tenant's administrators, a request for an exception from a
// control, which a central operator decides on /controls/exceptions.

// postureFinding is a finding with its control.
type postureFinding struct {
	posture.Finding
	Control controls.Control
	// Exception is the environment's open (requested or approved)
	// exception for the finding's control, if any.
	Exception *assignments.Exception
}

// posturePage is the data of /envs/{id}/posture.
type posturePage struct {
	Env env.Environment
	Org org.Organization
	// Evaluated: the environment has a score; Score is it.
	Evaluated bool
	Score     posture.Score
	Open      []postureFinding
	Resolved  []postureFinding
	// CanCollect offers "collect now"; CanRequest the exception forms.
	CanCollect bool
	CanRequest bool
	// CriticalOnly: the reader is central staff without a break-glass
	// grant, who see the score and the critical findings only.
	CriticalOnly bool
	// ByControl groups the open findings by control; Trend is the
	// score's history (posture_pictures.go).
	ByControl []controlRow
	Trend     *postureTrend
	// MinExpiry and MaxExpiry bound the expiry date field.
	MinExpiry, MaxExpiry string
	// Exit is the environment's exit readiness from its inventory (nil
	// without one, or for central staff who may not read the inventory).
	Exit *portability.Readiness
	// Form is a refused exception request, to fill its form again.
	Form    exceptionForm
	Errors  map[string]string
	Problem string
	// ProblemEnglish: Problem is a capability's English message.
	ProblemEnglish bool
}

type exceptionForm struct {
	ControlID, Reason, Expires string
}

// postureEnv reads the environment in the path and asks about action on
// it; outside the caller's scope it reads like a missing one.
func (c *Console) postureEnv(w http.ResponseWriter, r *http.Request, action authz.Action) (env.Environment, bool) {
	if c.api.Posture == nil || c.engine() == nil || c.api.Assignments == nil {
		c.fail(w, r, errNoControls)
		return env.Environment{}, false
	}
	e, err := c.api.Envs.Get(r.Context(), c.api.DB, r.PathValue("id"))
	if err == nil {
		_, err = c.decide(r, action, envResource(e))
	}
	if err != nil {
		c.fail(w, r, err)
		return env.Environment{}, false
	}
	return e, true
}

func (c *Console) envPosture(w http.ResponseWriter, r *http.Request) {
	e, ok := c.postureEnv(w, r, authz.ReadPosture)
	if !ok {
		return
	}
	c.renderPosture(w, r, http.StatusOK, e, posturePage{})
}

func (c *Console) renderPosture(w http.ResponseWriter, r *http.Request, status int, e env.Environment, p posturePage) {
	ctx := r.Context()
	p.Env = e
	if p.Errors == nil {
		p.Errors = map[string]string{}
	}
	var err error
	if p.Org, err = c.orgOrPlaceholder(r, e.OrgID); err != nil {
		c.fail(w, r, err)
		return
	}
	sc, err := c.api.Posture.EnvScore(ctx, e.ID)
	switch {
	case err == nil:
		p.Evaluated, p.Score = true, sc
	case fault.KindOf(err) != fault.NotFound:
		c.fail(w, r, err)
		return
	}
	fs, err := c.api.Posture.Findings(ctx, e.ID, true)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if !c.may(r, authz.ReadPostureDetail, envResource(e)) {
		p.CriticalOnly = true
		fs = slices.DeleteFunc(fs, func(f posture.Finding) bool { return f.Severity != controls.Critical })
	} else {
		inv, err := c.api.Posture.Inventory(ctx, e.ID)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		if len(inv) > 0 {
			ready := portability.Assess(inv)
			p.Exit = &ready
		}
	}
	exs, err := c.api.Assignments.Exceptions(ctx, []string{e.OrgID})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	now := c.now()
	open := map[string]*assignments.Exception{}
	for i := range exs {
		x := &exs[i]
		if x.EnvID == e.ID && (x.Status == assignments.Requested || x.Status == assignments.Approved) && x.ExpiresAt.After(now) {
			open[x.ControlID] = x
		}
	}
	for _, f := range fs {
		ct, ok := c.engine().Control(f.ControlID)
		if !ok {
			ct = controls.Control{ID: f.ControlID, Title: controls.Text{Ja: f.ControlID, En: f.ControlID}}
		}
		pf := postureFinding{Finding: f, Control: ct, Exception: open[f.ControlID]}
		if f.Status == posture.Open {
			p.Open = append(p.Open, pf)
		} else {
			p.Resolved = append(p.Resolved, pf)
		}
	}
	if err := c.envPictures(r, &p); err != nil {
		c.fail(w, r, err)
		return
	}
	p.CanCollect = c.may(r, authz.CollectPosture, envResource(e))
	p.CanRequest = c.may(r, authz.RequestException, envResource(e))
	today := now.In(jst)
	p.MinExpiry = today.AddDate(0, 0, 1).Format(time.DateOnly)
	p.MaxExpiry = today.AddDate(1, 0, -1).Format(time.DateOnly)
	c.render(w, r, status, "posture", "envs", p)
}

func posturePath(envID string) string { return "/envs/" + url.PathEscape(envID) + "/posture" }

// collectPosture collects the environment's inventory now and evaluates
// it, when this server runs a collector.
func (c *Console) collectPosture(w http.ResponseWriter, r *http.Request) {
	e, ok := c.postureEnv(w, r, authz.CollectPosture)
	if !ok {
		return
	}
	if c.api.Collector == nil {
		http.Redirect(w, r, posturePath(e.ID)+"?notice=posture_no_collector", http.StatusSeeOther)
		return
	}
	if e.AccountID == "" {
		c.renderPosture(w, r, http.StatusConflict, e, posturePage{Problem: c.message(r, "posture.no_account")})
		return
	}
	if _, err := c.api.Collector.Collect(r.Context(), posture.Target{EnvID: e.ID, OrgID: e.OrgID, Provider: e.Provider, AccountID: e.AccountID}); err != nil {
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, posturePath(e.ID)+"?notice=posture_collected", http.StatusSeeOther)
}

// requestException asks for the environment to be excused from a control
// until the end of the chosen day (Japan time).
func (c *Console) requestException(w http.ResponseWriter, r *http.Request) {
	e, ok := c.postureEnv(w, r, authz.RequestException)
	if !ok {
		return
	}
	pf := r.PostForm
	f := exceptionForm{ControlID: strings.TrimSpace(pf.Get("control_id")), Reason: pf.Get("reason"), Expires: strings.TrimSpace(pf.Get("expires"))}
	refuse := func(err error) {
		fe, _ := fault.As(err)
		switch k := fault.KindOf(err); k {
		case fault.Invalid, fault.Conflict:
			p := posturePage{Form: f, Errors: map[string]string{}}
			// The reader's language, and the form's field names: the
			// capability's one rule per field, said by the catalogue.
			switch {
			case k == fault.Conflict:
				p.Problem = c.message(r, "posture.exception_open")
			case fe.Field == "reason":
				p.Errors["reason"] = c.message(r, "posture.bad_reason")
			case fe.Field == "expires_at":
				p.Errors["expires"] = c.message(r, "posture.bad_expiry_range")
			case fe.Field == "expires":
				p.Errors["expires"] = fe.Message // the console's own, above
			default:
				p.Problem, p.ProblemEnglish = fe.Message, true
			}
			status := http.StatusUnprocessableEntity
			if k == fault.Conflict {
				status = http.StatusConflict
			}
			c.renderPosture(w, r, status, e, p)
		default:
			c.fail(w, r, err)
		}
	}
	day, err := time.ParseInLocation(time.DateOnly, f.Expires, jst)
	if err != nil {
		refuse(fault.InvalidField("expires", "%s", c.message(r, "posture.bad_expiry")))
		return
	}
	if _, err := c.api.Assignments.RequestException(r.Context(), me(r).principal, e.ID, e.OrgID, f.ControlID, f.Reason, day.AddDate(0, 0, 1)); err != nil {
		refuse(err)
		return
	}
	http.Redirect(w, r, posturePath(e.ID)+"?notice=exception_requested", http.StatusSeeOther)
}

// exceptionRow is an exception as /controls/exceptions shows it.
type exceptionRow struct {
	assignments.Exception
	Control     controls.Control
	Org         org.Organization
	RequestedBy actorRef
	DecidedBy   actorRef
}

// exceptionsPage is the data of /controls/exceptions.
type exceptionsPage struct {
	Rows      []exceptionRow
	CanDecide bool
	// Failed is the exception a refused decision was about.
	Failed  string
	Problem string
}

func (c *Console) exceptionList(w http.ResponseWriter, r *http.Request) {
	if !c.controlsReady(w, r) {
		return
	}
	c.renderExceptions(w, r, http.StatusOK, exceptionsPage{})
}

func (c *Console) renderExceptions(w http.ResponseWriter, r *http.Request, status int, p exceptionsPage) {
	within, err := c.within(r, authz.ReadExceptions)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	exs, err := c.api.Assignments.Exceptions(r.Context(), within)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	names := c.nameBook(r)
	orgs := map[string]org.Organization{}
	for _, x := range exs {
		row := exceptionRow{Exception: x}
		ct, ok := c.engine().Control(x.ControlID)
		if !ok {
			ct = controls.Control{ID: x.ControlID, Title: controls.Text{Ja: x.ControlID, En: x.ControlID}}
		}
		row.Control = ct
		o, seen := orgs[x.OrgID]
		if !seen {
			if o, err = c.orgOrPlaceholder(r, x.OrgID); err != nil {
				c.fail(w, r, err)
				return
			}
			orgs[x.OrgID] = o
		}
		row.Org = o
		if row.RequestedBy, err = names.actor(x.RequestedBy); err != nil {
			c.fail(w, r, err)
			return
		}
		if row.DecidedBy, err = names.actor(x.DecidedBy); err != nil {
			c.fail(w, r, err)
			return
		}
		p.Rows = append(p.Rows, row)
	}
	p.CanDecide = mayAnywhere(c.api.Authz, me(r).principal, authz.DecideException)
	c.render(w, r, status, "exceptions", "controls", p)
}

func (c *Console) approveException(w http.ResponseWriter, r *http.Request) {
	c.decideException(w, r, true)
}

func (c *Console) rejectException(w http.ResponseWriter, r *http.Request) {
	c.decideException(w, r, false)
}

// decideException approves or rejects a requested exception, with an
// optional note for the tenant.
func (c *Console) decideException(w http.ResponseWriter, r *http.Request, approve bool) {
	if !c.controlsReady(w, r) {
		return
	}
	x, err := c.api.Assignments.GetException(r.Context(), r.PathValue("id"))
	if err == nil {
		_, err = c.decide(r, authz.DecideException, authz.Resource{Kind: "exception", ID: x.ID, OrgID: x.OrgID})
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if _, err := c.api.Assignments.Decide(r.Context(), me(r).principal, x.ID, approve, r.PostForm.Get("note")); err != nil {
		if fault.KindOf(err) == fault.Conflict {
			c.renderExceptions(w, r, http.StatusConflict, exceptionsPage{Failed: x.ID, Problem: messageOf(err)})
			return
		}
		c.fail(w, r, err)
		return
	}
	notice := "exception_rejected"
	if approve {
		notice = "exception_approved"
	}
	http.Redirect(w, r, "/controls/exceptions?notice="+notice, http.StatusSeeOther)
}
