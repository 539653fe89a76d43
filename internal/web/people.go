package web

import (
	"net/http"
	"slices"
	"strings"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/identity"
	"github.com/hatoba-cloud/hatoba/internal/org"
)

// peoplePage is the data of /people: the people in the caller's scope and,
// for those who may invite, the invitation form.
type peoplePage struct {
	Rows      []personRow
	CanInvite bool
	// KeyOwners: the viewer designates key owners, so the page shows who
	// is one.
	KeyOwners bool
	Roles     []authz.Role
	Form      inviteForm
	// Errors maps a field to its message; Problem is about the whole form.
	Errors  map[string]string
	Problem string
	// Invited is the person just invited and their one-time link, shown
	// once: hatoba keeps only the token's hash.
	Invited *invitedPerson
}

type personRow struct {
	identity.Person
	Org *org.Organization
	// Manageable: the viewer may disable or enable this person (the
	// decision point has the last word when they try).
	Manageable bool
	// KeyOwnerAssignable: the viewer may designate this tenant
	// administrator key owner, or take it away (perhaps after a touch of
	// the security key).
	KeyOwnerAssignable bool
}

type inviteForm struct {
	Role        authz.Role
	OrgID       string
	DisplayName string
	Email       string
}

type invitedPerson struct {
	Person identity.Person
	Link   string
}

// invitableRoles are the roles the invitation form offers role: the same
// rule identity's Invite enforces (central operators invite central staff
// and tenants' first administrators; tenant administrators their own
// people). identity decides; this only spares people a refused form.
func invitableRoles(role authz.Role) []authz.Role {
	switch role {
	case authz.CentralOperator:
		return []authz.Role{authz.CentralOperator, authz.CentralAuditor, authz.TenantAdmin}
	case authz.TenantAdmin:
		return []authz.Role{authz.TenantAdmin, authz.TenantMember}
	}
	return nil
}

func (c *Console) people(w http.ResponseWriter, r *http.Request) {
	p := me(r).principal
	form := inviteForm{OrgID: p.OrgID}
	if roles := invitableRoles(p.Role); len(roles) > 0 {
		form.Role = roles[len(roles)-1]
	}
	c.renderPeople(w, r, http.StatusOK, peoplePage{Form: form, Errors: map[string]string{}})
}

func (c *Console) renderPeople(w http.ResponseWriter, r *http.Request, status int, page peoplePage) {
	ctx := r.Context()
	p := me(r).principal
	sc := c.api.Authz.ScopeOf(p, authz.ReadPeople)
	within, err := c.within(r, authz.ReadPeople)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	people, err := c.api.Identity.People(ctx, sc.Platform, within, sc.All)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	orgs := map[string]*org.Organization{}
	for _, person := range people {
		row := personRow{Person: person, Manageable: person.ID != p.PersonID && authz.Allows(p, authz.ManagePeople) &&
			slices.Contains(invitableRoles(p.Role), person.Role)}
		if person.Role == authz.TenantAdmin && authz.Allows(p, authz.AssignKeyOwner) {
			_, err := c.decide(r, authz.AssignKeyOwner, authz.Resource{Kind: "person", ID: person.ID, OrgID: person.OrgID})
			row.KeyOwnerAssignable = err == nil || isSecondFactor(err)
			page.KeyOwners = page.KeyOwners || row.KeyOwnerAssignable
		}
		if person.OrgID != "" {
			o, seen := orgs[person.OrgID]
			if !seen {
				found, err := c.orgOrPlaceholder(r, person.OrgID)
				if err != nil {
					c.fail(w, r, err)
					return
				}
				o = &found
				orgs[person.OrgID] = o
			}
			row.Org = o
		}
		page.Rows = append(page.Rows, row)
	}
	page.CanInvite = authz.Allows(p, authz.InvitePeople)
	page.Roles = invitableRoles(p.Role)
	c.render(w, r, status, "people", "people", page)
}

func (c *Console) invite(w http.ResponseWriter, r *http.Request) {
	pf := r.PostForm
	f := inviteForm{Role: authz.Role(pf.Get("role")), OrgID: strings.TrimSpace(pf.Get("org_id")),
		DisplayName: pf.Get("display_name"), Email: strings.TrimSpace(pf.Get("email"))}
	if f.Role.Central() {
		f.OrgID = "" // the form's organisation field is for tenant roles only
	}
	page := peoplePage{Form: f, Errors: map[string]string{}}
	// Central staff belong to the platform; a tenant's people to its
	// organisation, which must be in the inviter's scope.
	var d authz.Decision
	if f.OrgID != "" || f.Role.Central() {
		var err error
		d, err = c.decide(r, authz.InvitePeople, authz.Resource{Kind: "organisation", OrgID: f.OrgID})
		if err != nil {
			if k := fault.KindOf(err); (k != fault.Forbidden && k != fault.NotFound) || isSecondFactor(err) {
				c.fail(w, r, err)
				return
			}
			if f.OrgID != "" {
				page.Errors["org_id"] = messageOf(err)
			} else {
				page.Problem = messageOf(err)
			}
			c.renderPeople(w, r, http.StatusForbidden, page)
			return
		}
	}
	person, token, err := c.api.Identity.Invite(r.Context(), me(r).principal, d.GrantID,
		identity.Invitation{OrgID: f.OrgID, Role: f.Role, DisplayName: f.DisplayName, Email: f.Email})
	if err != nil {
		fe, _ := fault.As(err)
		switch fault.KindOf(err) {
		case fault.Invalid:
			if fe.Field != "" {
				page.Errors[fe.Field] = fe.Message
			} else {
				page.Problem = fe.Message
			}
			c.renderPeople(w, r, http.StatusUnprocessableEntity, page)
		case fault.Forbidden:
			page.Problem = fe.Message
			c.renderPeople(w, r, http.StatusForbidden, page)
		default:
			c.fail(w, r, err)
		}
		return
	}
	// The link is drawn once, on this answer; a fresh form follows it.
	page = peoplePage{Form: inviteForm{Role: f.Role, OrgID: f.OrgID}, Errors: map[string]string{},
		Invited: &invitedPerson{Person: person, Link: c.baseURL(r) + "/invitations/" + token}}
	c.renderPeople(w, r, http.StatusOK, page)
}

// baseURL starts the links hatoba hands out: the configured public URL, or
// this request's own origin when none is configured (development).
func (c *Console) baseURL(r *http.Request) string {
	if c.api.PublicURL != "" {
		return strings.TrimRight(c.api.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (c *Console) disablePerson(w http.ResponseWriter, r *http.Request) { c.setDisabled(w, r, true) }
func (c *Console) enablePerson(w http.ResponseWriter, r *http.Request)  { c.setDisabled(w, r, false) }

func (c *Console) setDisabled(w http.ResponseWriter, r *http.Request, disabled bool) {
	person, err := c.api.Identity.Person(r.Context(), r.PathValue("id"))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d, err := c.decide(r, authz.ManagePeople, authz.Resource{Kind: "person", ID: person.ID, OrgID: person.OrgID})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if _, err := c.api.Identity.SetDisabled(r.Context(), me(r).principal, d.GrantID, person.ID, disabled); err != nil {
		c.fail(w, r, err)
		return
	}
	if disabled {
		// Their cloud access goes too; if this fails the resumer does it.
		if err := c.api.Vending.RevokeDisabled(r.Context()); err != nil {
			c.log.Warn("console: revoking a disabled person's environment access; the resumer will retry", "person", person.ID, "err", err)
		}
	}
	notice := "person_enabled"
	if disabled {
		notice = "person_disabled"
	}
	http.Redirect(w, r, "/people?notice="+notice, http.StatusSeeOther)
}
