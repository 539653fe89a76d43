package web

import (
	"net/http"

	"github.com/hatoba-cloud/hatoba/internal/api"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/breakglass"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/org"
)

// dashboardPage is the data of the dashboard.
type dashboardPage struct {
	// Sovereignty leads to the national view (sovereignty.go).
	Sovereignty bool
	Info        api.SystemInfo
	States      []stateCount
	Total       int
	Orgs        int
	Waiting     []envRow
	MoreWait    bool
	// CanRequest and CanQueue offer the request form and the approval queue
	// to those who may use them.
	CanRequest bool
	CanQueue   bool
	// Break-glass access to the caller's scope: requests that wait for the
	// caller's approval, grants in force (for a tenant, every grant over
	// its scope; for an operator, its own), and a tenant's latest notices.
	AccessWaiting []accessRow
	AccessLive    []accessRow
	AccessNotices []breakglass.Notification
	// Map and Trends are the pictures (dashboard_map.go).
	Map    *mapView
	Trends *trendView
}

type stateCount struct {
	State env.State
	Count int
}

// waitingOnDashboard is how many waiting requests the dashboard lists; the
// approval queue has them all.
const waitingOnDashboard = 5

func (c *Console) dashboard(w http.ResponseWriter, r *http.Request) {
	if c.keysOnly {
		http.Redirect(w, r, "/keys", http.StatusSeeOther)
		return
	}
	ctx := r.Context()
	info, err := c.api.Info(ctx)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	p := dashboardPage{Info: info, Orgs: info.Organizations, Sovereignty: c.api.Sovereignty != nil,
		CanRequest: mayAnywhere(c.api.Authz, me(r).principal, authz.RequestEnv), CanQueue: authz.Allows(me(r).principal, authz.ReadApproval)}
	// Counts, like every listing, cover only what the caller may see.
	envsWithin, err := c.within(r, authz.ReadEnvs)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	counts := info.Environments
	if envsWithin != nil {
		if counts, err = c.api.Envs.CountByStateWithin(ctx, envsWithin); err != nil {
			c.fail(w, r, err)
			return
		}
	}
	for _, st := range env.States {
		p.States = append(p.States, stateCount{State: st, Count: counts[st]})
		p.Total += counts[st]
	}
	orgsWithin, err := c.within(r, authz.ReadOrgs)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if orgsWithin != nil {
		p.Orgs = len(orgsWithin)
	}
	waiting, err := c.api.Envs.List(ctx, env.ListParams{State: env.Requested, Limit: waitingOnDashboard, Within: envsWithin})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if p.Waiting, err = c.envRows(r, waiting.Items); err != nil {
		c.fail(w, r, err)
		return
	}
	p.MoreWait = waiting.NextCursor != ""
	if err := c.dashboardPictures(r, &p, envsWithin); err != nil {
		c.fail(w, r, err)
		return
	}
	if err := c.accessOnDashboard(r, &p); err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, http.StatusOK, "dashboard", "dashboard", p)
}

// accessNoticesOnDashboard is how many of a tenant's notices the
// dashboard shows.
const accessNoticesOnDashboard = 5

// accessOnDashboard fills in break-glass access: what waits for the
// caller, the grants in force, and a tenant's notices.
func (c *Console) accessOnDashboard(r *http.Request, p *dashboardPage) error {
	who := me(r).principal
	if c.api.BreakGlass == nil || !authz.Allows(who, authz.ReadAccess) || who.Role == authz.CentralAuditor {
		return nil
	}
	ctx := r.Context()
	within, err := c.within(r, authz.ReadAccess)
	if err != nil {
		return err
	}
	reqs, err := c.api.BreakGlass.List(ctx, within, within == nil, accessRequestsShown)
	if err != nil {
		return err
	}
	now := c.now()
	var shown []breakglass.Request
	for _, req := range reqs {
		if req.State == breakglass.Pending || (req.Live(now) && (who.Role == authz.TenantAdmin || req.RequesterID == who.PersonID)) {
			shown = append(shown, req)
		}
	}
	rows, err := c.accessRows(r, shown)
	if err != nil {
		return err
	}
	for _, row := range rows {
		switch {
		case row.WaitsForMe:
			p.AccessWaiting = append(p.AccessWaiting, row)
		case row.Live(now):
			p.AccessLive = append(p.AccessLive, row)
		}
	}
	if who.Role == authz.TenantAdmin && len(within) > 0 {
		if p.AccessNotices, err = c.api.BreakGlass.Notifications(ctx, within, accessNoticesOnDashboard); err != nil {
			return err
		}
	}
	return nil
}

// envRow is an environment with its organisation, for listings.
type envRow struct {
	env.Environment
	Org org.Organization
}

// envRows looks up the organisations of envs, once each. An organisation
// that cannot be found is shown by its id.
func (c *Console) envRows(r *http.Request, envs []env.Environment) ([]envRow, error) {
	orgs := map[string]org.Organization{}
	rows := make([]envRow, 0, len(envs))
	for _, e := range envs {
		o, seen := orgs[e.OrgID]
		if !seen {
			var err error
			o, err = c.orgOrPlaceholder(r, e.OrgID)
			if err != nil {
				return nil, err
			}
			orgs[e.OrgID] = o
		}
		rows = append(rows, envRow{Environment: e, Org: o})
	}
	return rows, nil
}
