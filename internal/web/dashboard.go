package web

import (
	"net/http"

	"github.com/hatoba-cloud/hatoba/internal/api"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/org"
)

// dashboardPage is the data of the dashboard.
type dashboardPage struct {
	Info     api.SystemInfo
	States   []stateCount
	Total    int
	Waiting  []envRow
	MoreWait bool
}

type stateCount struct {
	State env.State
	Count int
}

// waitingOnDashboard is how many waiting requests the dashboard lists; the
// approval queue has them all.
const waitingOnDashboard = 5

func (c *Console) dashboard(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	info, err := c.api.Info(ctx)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	p := dashboardPage{Info: info}
	for _, st := range env.States {
		p.States = append(p.States, stateCount{State: st, Count: info.Environments[st]})
		p.Total += info.Environments[st]
	}
	waiting, err := c.api.Envs.List(ctx, env.ListParams{State: env.Requested, Limit: waitingOnDashboard})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if p.Waiting, err = c.envRows(r, waiting.Items); err != nil {
		c.fail(w, r, err)
		return
	}
	p.MoreWait = waiting.NextCursor != ""
	c.render(w, r, http.StatusOK, "dashboard", "dashboard", p)
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
