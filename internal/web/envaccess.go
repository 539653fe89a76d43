package web

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/envaccess"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/identity"
	"github.com/hatoba-cloud/hatoba/internal/org"
)

// Who holds an environment's two permission sets (/envs/{id}/access). The
// page reads envaccess; changes go through the vending engine, which
// commits them and queues the job that applies them to the provider, as
// the API's PUT and DELETE do. A change shows at once as pending or
// removing; live.js reloads the page when the provider has caught up.

// envAccessPage is the data of /envs/{id}/access.
type envAccessPage struct {
	Env env.Environment
	Org org.Organization
	// Sets are the two permission sets with the people holding each.
	Sets []accessSet
	// Live: some row waits for the provider; Signature is the rows as
	// live.js compares them with the API's answer.
	Live      bool
	Signature string
	// CanAssign offers the forms: tenant administrators of the subtree,
	// operators under a grant.
	CanAssign bool
	// Ready: only a ready environment takes new people.
	Ready bool
	// Eligible are the environment's own active people who hold no set
	// yet: the choices of the form.
	Eligible []personChoice
	Form     assignForm
	Errors   map[string]string
	Problem  string
}

type accessSet struct {
	Set  envaccess.Set
	Rows []assignmentRow
}

// assignmentRow is one person's permission set, with names resolved.
type assignmentRow struct {
	envaccess.Assignment
	Person     identity.Person
	AssignedBy actorRef
	// Other is the set a move takes the person to.
	Other envaccess.Set
}

type personChoice struct {
	identity.Person
	Org org.Organization
}

type assignForm struct {
	PersonID string
	Set      envaccess.Set
}

// errAccessUnavailable: a server without envaccess wired cannot show or
// change who holds the sets.
var errAccessUnavailable = &fault.Error{Kind: fault.Unavailable, Message: "assigning people to environments is not configured on this server"}

func otherSet(s envaccess.Set) envaccess.Set {
	if s == envaccess.Administrator {
		return envaccess.NonAdministrator
	}
	return envaccess.Administrator
}

func (c *Console) envAccess(w http.ResponseWriter, r *http.Request) {
	c.renderEnvAccess(w, r, http.StatusOK, envAccessPage{Form: assignForm{Set: envaccess.NonAdministrator}, Errors: map[string]string{}})
}

// accessEnv loads the environment of the route, if the caller may read
// it; outside the caller's scope it reads exactly like a missing one.
func (c *Console) accessEnv(w http.ResponseWriter, r *http.Request) (env.Environment, bool) {
	if c.api.EnvAccess == nil {
		c.fail(w, r, errAccessUnavailable)
		return env.Environment{}, false
	}
	e, err := c.api.Envs.Get(r.Context(), c.api.DB, r.PathValue("id"))
	if err == nil {
		_, err = c.decide(r, authz.ReadEnvs, envResource(e))
	}
	if err != nil {
		c.fail(w, r, err)
		return env.Environment{}, false
	}
	return e, true
}

func (c *Console) renderEnvAccess(w http.ResponseWriter, r *http.Request, status int, p envAccessPage) {
	ctx := r.Context()
	e, ok := c.accessEnv(w, r)
	if !ok {
		return
	}
	o, err := c.orgOrPlaceholder(r, e.OrgID)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	p.Env, p.Org, p.Ready = e, o, e.State == env.Ready
	p.CanAssign = c.may(r, authz.AssignAccess, envResource(e))
	items, err := c.api.EnvAccess.List(ctx, e.ID)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	names := c.nameBook(r)
	holds := map[string]bool{}
	var sig []string
	for _, set := range envaccess.Sets {
		as := accessSet{Set: set}
		for _, a := range items {
			if a.PermissionSet != set {
				continue
			}
			row := assignmentRow{Assignment: a, Other: otherSet(set)}
			if row.Person, err = names.person(a.PersonID); err != nil {
				c.fail(w, r, err)
				return
			}
			if row.AssignedBy, err = names.actor(a.AssignedBy); err != nil {
				c.fail(w, r, err)
				return
			}
			as.Rows = append(as.Rows, row)
			p.Live = p.Live || a.Unsettled()
			// A person on the way out may be given a set again.
			holds[a.PersonID] = a.State != envaccess.Removing
		}
		p.Sets = append(p.Sets, as)
	}
	for _, a := range items {
		sig = append(sig, a.PersonID+":"+string(a.PermissionSet)+":"+string(a.State))
	}
	slices.Sort(sig)
	p.Signature = strings.Join(sig, ",")
	if p.CanAssign && p.Ready {
		// The environment's own people: its organisation and those under
		// it. envaccess decides again; this only spares a refused form.
		ids, err := c.api.Orgs.SubtreeIDs(ctx, []string{e.OrgID})
		if err != nil {
			c.fail(w, r, err)
			return
		}
		people, err := c.api.Identity.People(ctx, false, ids, false)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		orgs := map[string]org.Organization{}
		for _, person := range people {
			if holds[person.ID] || person.State != identity.Active || (person.Role != authz.TenantAdmin && person.Role != authz.TenantMember) {
				continue
			}
			po, seen := orgs[person.OrgID]
			if !seen {
				if po, err = c.orgOrPlaceholder(r, person.OrgID); err != nil {
					c.fail(w, r, err)
					return
				}
				orgs[person.OrgID] = po
			}
			p.Eligible = append(p.Eligible, personChoice{Person: person, Org: po})
		}
	}
	c.render(w, r, status, "env_access", "envs", p)
}

// envAccessPath is the page of environment id's people.
func envAccessPath(id string) string { return "/envs/" + url.PathEscape(id) + "/access" }

// assignAccess gives a person a permission set, or moves them to the
// other one (the same form, from a row's button).
func (c *Console) assignAccess(w http.ResponseWriter, r *http.Request) {
	e, ok := c.accessEnv(w, r)
	if !ok {
		return
	}
	d, err := c.decide(r, authz.AssignAccess, envResource(e))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	f := assignForm{PersonID: strings.TrimSpace(r.PostForm.Get("person_id")), Set: envaccess.Set(r.PostForm.Get("permission_set"))}
	p := envAccessPage{Form: f, Errors: map[string]string{}}
	if f.PersonID == "" {
		p.Errors["person_id"] = c.message(r, "envaccess.choose_person")
		c.renderEnvAccess(w, r, http.StatusUnprocessableEntity, p)
		return
	}
	_, err = c.api.Vending.AssignAccess(r.Context(), me(r).principal, d.GrantID, e.ID, f.PersonID, f.Set)
	if err != nil {
		fe, _ := fault.As(err)
		switch k := fault.KindOf(err); {
		case k == fault.Invalid, k == fault.NotFound:
			// NotFound here is the person: the environment was found above.
			field := "person_id"
			if fe.Field == "permission_set" {
				field = "permission_set"
			}
			p.Errors[field] = fe.Message
			c.renderEnvAccess(w, r, http.StatusUnprocessableEntity, p)
		case k == fault.Conflict:
			p.Problem = fe.Message
			c.renderEnvAccess(w, r, http.StatusConflict, p)
		case k == fault.Forbidden && !isSecondFactor(err):
			p.Problem = fe.Message
			c.renderEnvAccess(w, r, http.StatusForbidden, p)
		default:
			c.fail(w, r, err)
		}
		return
	}
	http.Redirect(w, r, envAccessPath(e.ID)+"?notice=people_assigned", http.StatusSeeOther)
}

// unassignAccess takes a person's permission set away. Taking away what
// the person does not hold succeeds, as the API's DELETE does.
func (c *Console) unassignAccess(w http.ResponseWriter, r *http.Request) {
	e, ok := c.accessEnv(w, r)
	if !ok {
		return
	}
	d, err := c.decide(r, authz.AssignAccess, envResource(e))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if _, _, err := c.api.Vending.UnassignAccess(r.Context(), me(r).principal, d.GrantID, e.ID, r.PathValue("person_id")); err != nil {
		if fe, ok := fault.As(err); ok && fe.Kind == fault.Forbidden && !isSecondFactor(err) {
			c.renderEnvAccess(w, r, http.StatusForbidden, envAccessPage{Errors: map[string]string{}, Problem: fe.Message})
			return
		}
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, envAccessPath(e.ID)+"?notice=people_removed", http.StatusSeeOther)
}
