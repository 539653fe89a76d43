package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/hatoba-cloud/hatoba/internal/config"
	"github.com/hatoba-cloud/hatoba/internal/provider/openstack"
	"github.com/hatoba-cloud/hatoba/internal/secrets"
)

// openstackDriver builds the driver of an openstack connection. Its secret
// (an application credential's, or a password) is read from hatoba's
// secret store when the driver first authenticates, so a sealed key
// service stops it like everything else; config.Validate has made sure the
// configuration names a stored secret and holds none.
func openstackDriver(p config.Provider, sealed *secrets.Store) (*openstack.Driver, error) {
	name, ok := strings.CutPrefix(p.OpenStack.Secret, secrets.Reference)
	if !ok {
		return nil, fmt.Errorf("provider %s: openstack.secret must name a stored secret (secret:NAME)", p.Name)
	}
	if sealed == nil {
		return nil, fmt.Errorf("provider %s: openstack.secret names a stored secret, which needs the key service (keyd.embedded)", p.Name)
	}
	o := p.OpenStack
	return openstack.New(openstack.Config{Name: p.Name, AuthURL: o.AuthURL, Domain: o.Domain, Region: o.Region,
		ApplicationCredentialID: o.ApplicationCredentialID, Username: o.Username, UserDomain: o.UserDomain,
		Secret: func(ctx context.Context) (string, error) {
			v, err := sealed.Get(ctx, name)
			if err != nil {
				return "", fmt.Errorf("provider credentials: %w", err)
			}
			return string(v), nil
		},
		AdministratorRoles: o.AdministratorRoles, NonAdministratorRoles: o.NonAdministratorRoles,
		DomesticRegions: o.DomesticRegions, Retention: o.Retention})
}
