package web

import (
	"net/http"
	"slices"
	"strings"

	"github.com/hatoba-cloud/hatoba/internal/api"
	"github.com/hatoba-cloud/hatoba/internal/assignments"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/org"
)

// The controls (docs/controls.md, docs/console.md "Controls"): the
// catalog and its detail pages for everyone signed in; where each control
// is assigned, and in which mode, for everyone too (a tenant sees what
// applies to it: its own subtree's assignments, its ancestors' and those
// for every organisation). Central operators assign, remove and promote
// an assignment from detect to enforce — the last only after the impact
// page showed what enforcing would refuse now, and with the assignment's
// id typed again, as the API's confirm asks. package assignments holds
// the rules; the console only draws them.

// errNoControls: a server built without the controls.
var errNoControls = &fault.Error{Kind: fault.Unavailable, Message: "this server evaluates no controls"}

// engine is the running catalog's engine: with the custom controls when
// the server keeps a catalog (api.Server.Catalog), else the built-in one.
func (c *Console) engine() *controls.Engine {
	if c.api.Catalog != nil {
		return c.api.Catalog.Engine()
	}
	return c.api.Controls
}

// controlsReady answers 503 when the server has no controls.
func (c *Console) controlsReady(w http.ResponseWriter, r *http.Request) bool {
	if c.engine() == nil || c.api.Assignments == nil {
		c.fail(w, r, errNoControls)
		return false
	}
	return true
}

// controlKinds are the kinds the catalog filters by.
var controlKinds = []controls.Kind{controls.Preventive, controls.Proactive, controls.Detective}

// controlListPage is the data of /controls.
type controlListPage struct {
	Kinds      []controls.Kind
	Severities []controls.Severity
	Kind       controls.Kind
	Severity   controls.Severity
	// FilterError: a filter value the catalog does not know.
	FilterError string
	Controls    []controls.Control
	Total       int
}

func (c *Console) controlList(w http.ResponseWriter, r *http.Request) {
	if !c.controlsReady(w, r) {
		return
	}
	q := r.URL.Query()
	p := controlListPage{Kinds: controlKinds, Severities: controls.Severities,
		Kind: controls.Kind(q.Get("kind")), Severity: controls.Severity(q.Get("severity"))}
	status := http.StatusOK
	if p.Kind != "" && !slices.Contains(controlKinds, p.Kind) {
		p.FilterError, p.Kind, status = c.message(r, "controls.bad_kind"), "", http.StatusBadRequest
	}
	if p.Severity != "" && p.Severity.Rank() < 0 {
		p.FilterError, p.Severity, status = c.message(r, "controls.bad_severity"), "", http.StatusBadRequest
	}
	all := c.engine().Controls()
	p.Total = len(all)
	if status == http.StatusOK {
		for _, ct := range all {
			if (p.Kind == "" || ct.Has(p.Kind)) && (p.Severity == "" || ct.Severity == p.Severity) {
				p.Controls = append(p.Controls, ct)
			}
		}
	}
	c.render(w, r, status, "controls", "controls", p)
}

// controlAssignmentRow is an assignment as the pages show it.
type controlAssignmentRow struct {
	assignments.Assignment
	Control controls.Control
	// Org is the organisation; nil: every organisation.
	Org        *org.Organization
	AssignedBy actorRef
	PromotedBy actorRef
	// Promotable: a preventive control still detecting.
	Promotable bool
}

// controlPage is the data of /controls/{id}.
type controlPage struct {
	Control controls.Control
	NIST    []frameworkRef
	CSF     []frameworkRef
	ISMAP   []frameworkRef
	// Unverified: some ISMAP ids were not traced to the published
	// criteria (controls.ISMAPVerified).
	Unverified  bool
	Assignments []controlAssignmentRow
	CanAssign   bool
}

// frameworkRef is a framework requirement with its title, when known.
// Unverified marks a mapping not traced to the framework's published text.
type frameworkRef struct {
	ID, Title  string
	Unverified bool
}

func (c *Console) controlDetail(w http.ResponseWriter, r *http.Request) {
	if !c.controlsReady(w, r) {
		return
	}
	ct, ok := c.engine().Control(r.PathValue("id"))
	if !ok {
		c.fail(w, r, fault.NotFoundf("no control %s", r.PathValue("id")))
		return
	}
	p := controlPage{Control: ct, CanAssign: mayAnywhere(c.api.Authz, me(r).principal, authz.AssignControls)}
	for _, id := range ct.Frameworks.NIST80053 {
		t, _ := controls.NISTTitle(id)
		p.NIST = append(p.NIST, frameworkRef{ID: id, Title: t})
	}
	for _, id := range ct.Frameworks.NISTCSF {
		t, _ := controls.CSFTitle(id)
		p.CSF = append(p.CSF, frameworkRef{ID: id, Title: t})
	}
	for _, id := range ct.Frameworks.ISMAP {
		t, ok := controls.ISMAPVerified(id)
		p.ISMAP = append(p.ISMAP, frameworkRef{ID: id, Title: t, Unverified: !ok})
		p.Unverified = p.Unverified || !ok
	}
	rows, err := c.assignmentRows(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	for _, row := range rows {
		if row.ControlID == ct.ID {
			p.Assignments = append(p.Assignments, row)
		}
	}
	c.render(w, r, http.StatusOK, "control", "controls", p)
}

// visibleAssignments are the assignments the caller sees: all of them for
// central staff; for a tenant, those of its subtree, its ancestors' (they
// apply to it) and those for every organisation.
func (c *Console) visibleAssignments(r *http.Request) ([]assignments.Assignment, error) {
	within, err := c.within(r, authz.ReadControls)
	if err != nil {
		return nil, err
	}
	if within != nil {
		if own := me(r).principal.OrgID; own != "" {
			ancestors, err := c.api.Orgs.Ancestors(r.Context(), own)
			if err != nil {
				return nil, err
			}
			for _, a := range ancestors {
				within = append(within, a.ID)
			}
		}
	}
	return c.api.Assignments.List(r.Context(), within)
}

// assignmentRows resolves the visible assignments' controls, organisations
// and people.
func (c *Console) assignmentRows(r *http.Request) ([]controlAssignmentRow, error) {
	as, err := c.visibleAssignments(r)
	if err != nil {
		return nil, err
	}
	names := c.nameBook(r)
	orgs := map[string]*org.Organization{}
	rows := make([]controlAssignmentRow, 0, len(as))
	for _, a := range as {
		row, err := c.controlAssignmentRow(r, names, orgs, a)
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func (c *Console) controlAssignmentRow(r *http.Request, names *nameBook, orgs map[string]*org.Organization, a assignments.Assignment) (controlAssignmentRow, error) {
	row := controlAssignmentRow{Assignment: a}
	ct, ok := c.engine().Control(a.ControlID)
	if !ok {
		ct = controls.Control{ID: a.ControlID, Title: controls.Text{Ja: a.ControlID, En: a.ControlID}}
	}
	row.Control = ct
	row.Promotable = ok && ct.Has(controls.Preventive) && a.Mode == assignments.Detect
	if a.OrgID != assignments.Everywhere {
		o, seen := orgs[a.OrgID]
		if !seen {
			got, err := c.orgOrPlaceholder(r, a.OrgID)
			if err != nil {
				return row, err
			}
			o = &got
			orgs[a.OrgID] = o
		}
		row.Org = o
	}
	var err error
	if row.AssignedBy, err = names.actor(a.AssignedBy); err != nil {
		return row, err
	}
	if row.PromotedBy, err = names.actor(a.PromotedBy); err != nil {
		return row, err
	}
	return row, nil
}

// assignmentsPage is the data of /controls/assignments.
type assignmentsPage struct {
	Rows      []controlAssignmentRow
	CanAssign bool
	Controls  []controls.Control
	Form      controlAssignForm
	Errors    map[string]string
	Problem   string
}

type controlAssignForm struct {
	OrgID, ControlID string
}

func (c *Console) assignmentList(w http.ResponseWriter, r *http.Request) {
	if !c.controlsReady(w, r) {
		return
	}
	c.renderAssignments(w, r, http.StatusOK, assignmentsPage{Form: controlAssignForm{ControlID: r.URL.Query().Get("control")}})
}

func (c *Console) renderAssignments(w http.ResponseWriter, r *http.Request, status int, p assignmentsPage) {
	var err error
	if p.Rows, err = c.assignmentRows(r); err != nil {
		c.fail(w, r, err)
		return
	}
	if p.Errors == nil {
		p.Errors = map[string]string{}
	}
	p.CanAssign = mayAnywhere(c.api.Authz, me(r).principal, authz.AssignControls)
	if p.CanAssign {
		p.Controls = c.engine().Controls()
	}
	c.render(w, r, status, "assignments", "controls", p)
}

// assignRefused shows what the operator can fix (an invalid value, a clash) on
// the page, anything else as the error page.
func (c *Console) assignRefused(w http.ResponseWriter, r *http.Request, p assignmentsPage, err error) {
	fe, _ := fault.As(err)
	switch k := fault.KindOf(err); k {
	case fault.Invalid, fault.Conflict:
		p.Errors = map[string]string{}
		if fe.Field != "" {
			p.Errors[fe.Field] = fe.Message
		} else {
			p.Problem = fe.Message
		}
		status := http.StatusUnprocessableEntity
		if k == fault.Conflict {
			status = http.StatusConflict
		}
		c.renderAssignments(w, r, status, p)
	default:
		c.fail(w, r, err)
	}
}

func assignmentResource(orgID string) authz.Resource {
	return authz.Resource{Kind: "organisation", ID: orgID, OrgID: orgID}
}

// assign assigns a control to an organisation (its subtree), or to every
// organisation when the field is left empty. It starts in detect mode.
func (c *Console) assign(w http.ResponseWriter, r *http.Request) {
	if !c.controlsReady(w, r) {
		return
	}
	f := controlAssignForm{OrgID: strings.TrimSpace(r.PostForm.Get("org_id")), ControlID: strings.TrimSpace(r.PostForm.Get("control_id"))}
	p := assignmentsPage{Form: f}
	if f.OrgID != "" {
		if _, err := c.api.Orgs.Get(r.Context(), f.OrgID); err != nil {
			if fault.KindOf(err) != fault.NotFound {
				c.fail(w, r, err)
				return
			}
			c.assignRefused(w, r, p, fault.InvalidField("org_id", "no organisation %s", f.OrgID))
			return
		}
	}
	if _, err := c.decide(r, authz.AssignControls, assignmentResource(f.OrgID)); err != nil {
		c.fail(w, r, err)
		return
	}
	if _, err := c.api.Assignments.Assign(r.Context(), me(r).principal, f.ControlID, f.OrgID); err != nil {
		c.assignRefused(w, r, p, err)
		return
	}
	http.Redirect(w, r, "/controls/assignments?notice=control_assigned", http.StatusSeeOther)
}

// assignmentFor reads the assignment in the path and asks whether the
// caller may change it. On refusal it has answered.
func (c *Console) assignmentFor(w http.ResponseWriter, r *http.Request) (assignments.Assignment, bool) {
	if !c.controlsReady(w, r) {
		return assignments.Assignment{}, false
	}
	a, err := c.api.Assignments.Get(r.Context(), r.PathValue("id"))
	if err == nil {
		_, err = c.decide(r, authz.AssignControls, assignmentResource(a.OrgID))
	}
	if err != nil {
		c.fail(w, r, err)
		return assignments.Assignment{}, false
	}
	return a, true
}

func (c *Console) unassign(w http.ResponseWriter, r *http.Request) {
	a, ok := c.assignmentFor(w, r)
	if !ok {
		return
	}
	if err := c.api.Assignments.Unassign(r.Context(), me(r).principal, a.ID); err != nil {
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/controls/assignments?notice=control_unassigned", http.StatusSeeOther)
}

// impactPage is the data of /controls/assignments/{id}/impact.
type impactPage struct {
	Row    controlAssignmentRow
	Impact api.AssignmentImpact
	Envs   []impactEnv
	// ConfirmError is a refused confirmation's message; Confirm is what
	// was typed.
	ConfirmError string
	Confirm      string
}

// impactEnv is an environment that would be refused, with the resources
// failing the control in it now.
type impactEnv struct {
	ID        string
	Resources []string
}

func (c *Console) assignmentImpact(w http.ResponseWriter, r *http.Request) {
	a, ok := c.assignmentFor(w, r)
	if !ok {
		return
	}
	c.renderImpact(w, r, http.StatusOK, a, impactPage{})
}

func (c *Console) renderImpact(w http.ResponseWriter, r *http.Request, status int, a assignments.Assignment, p impactPage) {
	if c.api.Posture == nil {
		c.fail(w, r, errNoControls)
		return
	}
	var err error
	if p.Impact, err = c.api.Impact(r, a.ID); err != nil {
		c.fail(w, r, err)
		return
	}
	if p.Row, err = c.controlAssignmentRow(r, c.nameBook(r), map[string]*org.Organization{}, p.Impact.Assignment); err != nil {
		c.fail(w, r, err)
		return
	}
	for id, rs := range p.Impact.Details {
		p.Envs = append(p.Envs, impactEnv{ID: id, Resources: slices.Sorted(slices.Values(rs))})
	}
	slices.SortFunc(p.Envs, func(x, y impactEnv) int { return strings.Compare(x.ID, y.ID) })
	c.render(w, r, status, "impact", "controls", p)
}

// promote turns an assignment to enforce: the form repeats the
// assignment's id, and the impact is computed again now, so the record
// names what enforcing refused at the moment it was decided.
func (c *Console) promote(w http.ResponseWriter, r *http.Request) {
	a, ok := c.assignmentFor(w, r)
	if !ok {
		return
	}
	if c.api.Posture == nil {
		c.fail(w, r, errNoControls)
		return
	}
	im, err := c.api.Impact(r, a.ID)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	confirm := strings.TrimSpace(r.PostForm.Get("confirm"))
	if _, err := c.api.Assignments.Promote(r.Context(), me(r).principal, a.ID, confirm, im.Impact); err != nil {
		if fe, ok := fault.As(err); ok && fe.Kind == fault.Invalid {
			msg := fe.Message
			if fe.Field == "confirm" {
				msg = c.message(r, "impact.confirm_mismatch")
			}
			c.renderImpact(w, r, http.StatusUnprocessableEntity, a, impactPage{ConfirmError: msg, Confirm: confirm})
			return
		}
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/controls/assignments?notice=control_promoted", http.StatusSeeOther)
}
