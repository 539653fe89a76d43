package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/gophercloud/gophercloud/v2"
	gcos "github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/domains"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/projects"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/roles"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/users"

	"github.com/hatoba-cloud/hatoba/internal/provider/openstack"
)

// keystoneBench is the openstack driver on the real Keystone of
// scripts/keystone.sh, in a domain of its own that close deletes.
type keystoneBench struct {
	admin    *gophercloud.ServiceClient
	domainID string
	driver   *openstack.Driver
}

func newKeystoneBench(ctx context.Context, url, password string, client *http.Client) (*keystoneBench, error) {
	pc, err := gcos.AuthenticatedClient(ctx, gophercloud.AuthOptions{IdentityEndpoint: url, Username: "admin", Password: password,
		DomainName: "Default", Scope: &gophercloud.AuthScope{System: true}})
	if err != nil {
		return nil, fmt.Errorf("log in to Keystone at %s (run scripts/keystone.sh): %w", url, err)
	}
	admin, err := gcos.NewIdentityV3(pc, gophercloud.EndpointOpts{})
	if err != nil {
		return nil, err
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "hatoba-bench-" + hex.EncodeToString(b[:])
	enabled := true
	dom, err := domains.Create(ctx, admin, domains.CreateOpts{Name: name, Enabled: &enabled}).Extract()
	if err != nil {
		return nil, fmt.Errorf("create domain: %w", err)
	}
	kb := &keystoneBench{admin: admin, domainID: dom.ID}
	// The driver's token is scoped to the domain, where admin needs the
	// admin role.
	rpages, err := roles.List(admin, roles.ListOpts{Name: "admin"}).AllPages(ctx)
	if err != nil {
		return kb, err
	}
	rs, err := roles.ExtractRoles(rpages)
	if err != nil {
		return kb, fmt.Errorf("role admin: %w", err)
	}
	if len(rs) == 0 {
		return kb, fmt.Errorf("role admin: not in Keystone")
	}
	upages, err := users.List(admin, users.ListOpts{Name: "admin", DomainID: "default"}).AllPages(ctx)
	if err != nil {
		return kb, err
	}
	us, err := users.ExtractUsers(upages)
	if err != nil {
		return kb, fmt.Errorf("user admin: %w", err)
	}
	if len(us) == 0 {
		return kb, fmt.Errorf("user admin: not in Keystone")
	}
	if err := roles.Assign(ctx, admin, rs[0].ID, roles.AssignOpts{UserID: us[0].ID, DomainID: dom.ID}).ExtractErr(); err != nil {
		return kb, err
	}
	kb.driver, err = openstack.New(openstack.Config{Name: "keystone", AuthURL: url, Domain: name, Username: "admin", UserDomain: "Default",
		Secret: func(context.Context) (string, error) { return password, nil }, HTTPClient: client,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	return kb, err
}

// accounts counts the environments' projects in the domain (units are
// projects too, without an e-mail).
func (kb *keystoneBench) accounts(ctx context.Context) (int, error) {
	pages, err := projects.List(kb.admin, projects.ListOpts{DomainID: kb.domainID}).AllPages(ctx)
	if err != nil {
		return 0, err
	}
	ps, err := projects.ExtractProjects(pages)
	n := 0
	for _, p := range ps {
		if e, _ := p.Extra["hatoba_email"].(string); e != "" {
			n++
		}
	}
	return n, err
}

// close deletes the domain and everything in it.
func (kb *keystoneBench) close() {
	ctx := context.Background()
	disabled := false
	_, _ = domains.Update(ctx, kb.admin, kb.domainID, domains.UpdateOpts{Enabled: &disabled}).Extract()
	_ = domains.Delete(ctx, kb.admin, kb.domainID).ExtractErr()
}
