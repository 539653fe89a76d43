package openstack

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/projects"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/roles"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/users"

	"github.com/hatoba-cloud/hatoba/internal/provider"
)

// The two permission sets are two Keystone groups per environment, in the
// connection's domain, with the configured roles on the environment's
// project. People are Keystone users named by their hatoba person id (a
// display name may change or repeat; the id never does), so a user made
// by an attempt whose answer was lost is found again, not duplicated.

// AssignAccess implements provider.Provider.
func (d *Driver) AssignAccess(ctx context.Context, accountID string, access provider.Access) error {
	c, err := d.client(ctx)
	if err != nil {
		return err
	}
	p, err := d.project(ctx, accountID)
	if err != nil {
		return err
	}
	g, err := guardrailsOf(p)
	if err != nil {
		return err
	}
	allowed := g.effective().AllowedRoles
	for _, set := range []struct {
		group string
		roles []string
	}{{access.AdminGroup, d.adminRoles}, {access.MemberGroup, d.userRoles}} {
		for _, r := range set.roles {
			if allowed != nil && !slices.Contains(allowed, r) {
				return &provider.Error{Class: provider.Permanent, Op: "AssignRole", Code: "RoleNotAllowed",
					Err: fmt.Errorf("the guardrails of project %s allow only the roles %s, not %q (configured for group %s)", accountID, strings.Join(allowed, ", "), r, set.group)}
			}
		}
	}
	// The group names are kept on the project so that PurgeClosed can
	// delete the groups with it.
	names := access.AdminGroup + "," + access.MemberGroup
	if cur, _ := p.Extra[extraGroups].(string); cur != names {
		if err := d.update(ctx, accountID, "UpdateProject", projects.UpdateOpts{Extra: map[string]any{extraGroups: names}}); err != nil {
			return err
		}
	}
	for _, set := range []struct {
		group string
		roles []string
	}{{access.AdminGroup, d.adminRoles}, {access.MemberGroup, d.userRoles}} {
		groupID, err := d.ensureGroup(ctx, set.group)
		if err != nil {
			return err
		}
		for _, r := range set.roles {
			roleID, err := d.role(ctx, r)
			if err != nil {
				return err
			}
			// PUT: assigning a role the group has is success.
			if err := roles.Assign(ctx, c, roleID, roles.AssignOpts{GroupID: groupID, ProjectID: accountID}).ExtractErr(); err != nil {
				return classify("AssignRole", err)
			}
		}
	}
	return nil
}

// role returns the id of the role named name; roles never change id.
func (d *Driver) role(ctx context.Context, name string) (string, error) {
	d.mu.Lock()
	id := d.roleIDs[name]
	d.mu.Unlock()
	if id != "" {
		return id, nil
	}
	c, err := d.client(ctx)
	if err != nil {
		return "", err
	}
	pages, err := roles.List(c, roles.ListOpts{Name: name}).AllPages(ctx)
	if err != nil {
		return "", classify("ListRoles", err)
	}
	rs, err := roles.ExtractRoles(pages)
	if err != nil {
		return "", classify("ListRoles", err)
	}
	for _, r := range rs {
		if r.DomainID == "" { // a global role, not a domain-specific one
			d.mu.Lock()
			d.roleIDs[name] = r.ID
			d.mu.Unlock()
			return r.ID, nil
		}
	}
	return "", &provider.Error{Class: provider.Permanent, Op: "ListRoles", Code: "RoleNotFound",
		Err: fmt.Errorf("no role %q in Keystone (configure the connection's roles, or create it)", name)}
}

func (d *Driver) findGroup(ctx context.Context, c *gophercloud.ServiceClient, domainID, name string) (string, error) {
	pages, err := groups.List(c, groups.ListOpts{DomainID: domainID, Name: name}).AllPages(ctx)
	if err != nil {
		return "", classify("ListGroups", err)
	}
	gs, err := groups.ExtractGroups(pages)
	if err != nil || len(gs) == 0 {
		return "", classify("ListGroups", err)
	}
	return gs[0].ID, nil
}

func (d *Driver) ensureGroup(ctx context.Context, name string) (string, error) {
	c, domainID, err := d.domain(ctx)
	if err != nil {
		return "", err
	}
	if id, err := d.findGroup(ctx, c, domainID, name); err != nil || id != "" {
		return id, err
	}
	g, err := groups.Create(ctx, c, groups.CreateOpts{DomainID: domainID, Name: name, Description: "hatoba permission set"}).Extract()
	if isStatus(err, http.StatusConflict) {
		if id, ferr := d.findGroup(ctx, c, domainID, name); ferr != nil || id != "" {
			return id, ferr
		}
	}
	if err != nil {
		return "", classify("CreateGroup", err)
	}
	return g.ID, nil
}

func (d *Driver) findUser(ctx context.Context, c *gophercloud.ServiceClient, domainID, personID string) (string, error) {
	pages, err := users.List(c, users.ListOpts{DomainID: domainID, Name: personID}).AllPages(ctx)
	if err != nil {
		return "", classify("ListUsers", err)
	}
	us, err := users.ExtractUsers(pages)
	if err != nil || len(us) == 0 {
		return "", classify("ListUsers", err)
	}
	return us[0].ID, nil
}

func (d *Driver) ensureUser(ctx context.Context, p provider.Person) (string, error) {
	c, domainID, err := d.domain(ctx)
	if err != nil {
		return "", err
	}
	if id, err := d.findUser(ctx, c, domainID, p.ID); err != nil || id != "" {
		return id, err
	}
	extra := map[string]any{}
	if p.Email != "" {
		extra["email"] = p.Email
	}
	// No password: people sign in through the cloud's federation or
	// hatoba's own login, never with a Keystone password hatoba knows.
	u, err := users.Create(ctx, c, users.CreateOpts{DomainID: domainID, Name: p.ID, Description: p.DisplayName, Extra: extra}).Extract()
	if isStatus(err, http.StatusConflict) {
		if id, ferr := d.findUser(ctx, c, domainID, p.ID); ferr != nil || id != "" {
			return id, ferr
		}
	}
	if err != nil {
		return "", classify("CreateUser", err)
	}
	return u.ID, nil
}

// AddGroupMember implements provider.Provider.
func (d *Driver) AddGroupMember(ctx context.Context, group string, p provider.Person) error {
	groupID, err := d.ensureGroup(ctx, group)
	if err != nil {
		return err
	}
	userID, err := d.ensureUser(ctx, p)
	if err != nil {
		return err
	}
	c, err := d.client(ctx)
	if err != nil {
		return err
	}
	// PUT: a member already in the group is success.
	return classify("AddUserToGroup", users.AddToGroup(ctx, c, groupID, userID).ExtractErr())
}

// RemoveGroupMember implements provider.Provider.
func (d *Driver) RemoveGroupMember(ctx context.Context, group, personID string) error {
	c, domainID, err := d.domain(ctx)
	if err != nil {
		return err
	}
	userID, err := d.findUser(ctx, c, domainID, personID)
	if err != nil || userID == "" {
		return err
	}
	groupID, err := d.findGroup(ctx, c, domainID, group)
	if err != nil || groupID == "" {
		return err
	}
	err = users.RemoveFromGroup(ctx, c, groupID, userID).ExtractErr()
	if isStatus(err, http.StatusNotFound) {
		return nil // not a member: removed by an earlier attempt whose answer was lost
	}
	return classify("RemoveUserFromGroup", err)
}

// GroupMembers returns the hatoba person ids of a group's members, sorted;
// for tests and the conformance suite.
func (d *Driver) GroupMembers(ctx context.Context, group string) ([]string, error) {
	c, domainID, err := d.domain(ctx)
	if err != nil {
		return nil, err
	}
	groupID, err := d.findGroup(ctx, c, domainID, group)
	if err != nil || groupID == "" {
		return nil, err
	}
	pages, err := users.ListInGroup(c, groupID, users.ListOpts{}).AllPages(ctx)
	if err != nil {
		return nil, classify("ListUsersInGroup", err)
	}
	us, err := users.ExtractUsers(pages)
	if err != nil {
		return nil, classify("ListUsersInGroup", err)
	}
	out := make([]string, 0, len(us))
	for _, u := range us {
		out = append(out, u.Name)
	}
	slices.Sort(out)
	return out, nil
}

// deleteGroups deletes the groups AssignAccess recorded on a project.
func (d *Driver) deleteGroups(ctx context.Context, p projects.Project) error {
	names, _ := p.Extra[extraGroups].(string)
	if names == "" {
		return nil
	}
	c, domainID, err := d.domain(ctx)
	if err != nil {
		return err
	}
	for _, name := range strings.Split(names, ",") {
		id, err := d.findGroup(ctx, c, domainID, name)
		if err != nil {
			return err
		}
		if id == "" {
			continue
		}
		if err := groups.Delete(ctx, c, id).ExtractErr(); err != nil && !isStatus(err, http.StatusNotFound) {
			return classify("DeleteGroup", err)
		}
	}
	return nil
}
