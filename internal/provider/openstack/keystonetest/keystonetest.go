// Package keystonetest connects tests to the real Keystone that
// scripts/keystone.sh starts, each test in a domain of its own.
//
// The Keystone is found at HATOBA_TEST_KEYSTONE_URL (default
// http://127.0.0.1:35357/v3), as "admin" with HATOBA_TEST_KEYSTONE_PASSWORD
// (default the script's). Without it a test is skipped with the reason,
// unless HATOBA_REQUIRE_KEYSTONE=1 (scripts/test.sh sets it): then it fails.
package keystonetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	gcos "github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/domains"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/endpoints"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/regions"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/registeredlimits"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/roles"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/services"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/users"

	"github.com/hatoba-cloud/hatoba/internal/provider/openstack"
)

// Defaults of scripts/keystone.sh.
const (
	DefaultURL      = "http://127.0.0.1:35357/v3"
	DefaultPassword = "hatoba-keystone-admin"
)

// FixtureServiceType is the type of the service whose endpoints the
// fixture puts in each region.
const FixtureServiceType = "hatoba-fixture"

// Regions the fixture puts in the catalog: two domestic, one abroad, each
// with a compute endpoint.
var (
	DomesticRegions = []string{"jp-east-1", "jp-west-1"}
	ForeignRegion   = "us-east-1"
)

// URL returns Keystone's address, skipping (or, when required, failing)
// the test when nothing answers there.
func URL(t testing.TB) string {
	t.Helper()
	url := os.Getenv("HATOBA_TEST_KEYSTONE_URL")
	if url == "" {
		url = DefaultURL
	}
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url) //nolint:gosec // G704: the test Keystone's URL, from the developer's environment
	if err == nil {
		_ = resp.Body.Close()
	}
	if err != nil || resp.StatusCode != http.StatusOK {
		reason := "no Keystone answers at " + url + " (run scripts/keystone.sh, or set HATOBA_TEST_KEYSTONE_URL)"
		if err != nil {
			reason += ": " + err.Error()
		}
		if os.Getenv("HATOBA_REQUIRE_KEYSTONE") == "1" {
			t.Fatal(reason)
		}
		t.Skip(reason)
	}
	return url
}

func password() string {
	if p := os.Getenv("HATOBA_TEST_KEYSTONE_PASSWORD"); p != "" {
		return p
	}
	return DefaultPassword
}

// Admin is an identity client logged in as Keystone's admin, scoped to the
// system: Keystone lists every project's limits only to such a token.
func Admin(t testing.TB) *gophercloud.ServiceClient {
	t.Helper()
	url := URL(t)
	ctx := context.Background()
	pc, err := gcos.AuthenticatedClient(ctx, gophercloud.AuthOptions{IdentityEndpoint: url, Username: "admin", Password: password(),
		DomainName: "Default", Scope: &gophercloud.AuthScope{System: true}})
	if err != nil {
		t.Fatalf("log in to Keystone at %s as admin: %v", url, err)
	}
	sc, err := gcos.NewIdentityV3(pc, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// Options tune Driver.
type Options struct {
	// HTTPClient carries the driver's requests (tests inject faults).
	HTTPClient *http.Client
	Retention  time.Duration
	// DomesticRegions is the connection's guardrail of domestic regions.
	DomesticRegions []string
	Now             func() time.Time
}

// Driver returns a driver on a new domain of its own, and the domain's id;
// the catalog has the fixture's regions and services, the roles member
// and reader exist, and compute has registered limits for cores and
// instances.
func Driver(t testing.TB, opts Options) (*openstack.Driver, string) {
	t.Helper()
	admin := Admin(t)
	ctx := context.Background()
	Fixture(t, admin)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "hatoba-test-" + hex.EncodeToString(b[:])
	enabled := true
	dom, err := domains.Create(ctx, admin, domains.CreateOpts{Name: name, Enabled: &enabled, Description: t.Name()}).Extract()
	if err != nil {
		t.Fatalf("create domain: %v", err)
	}
	t.Cleanup(func() {
		if os.Getenv("HATOBA_KEEP_KEYSTONE_DOMAINS") == "1" {
			return
		}
		// A domain is deleted once disabled; its projects, groups and
		// users go with it.
		ctx := context.Background()
		disabled := false
		_, _ = domains.Update(ctx, admin, dom.ID, domains.UpdateOpts{Enabled: &disabled}).Extract()
		_ = domains.Delete(ctx, admin, dom.ID).ExtractErr()
	})
	// The driver's token is scoped to the domain, on which its user needs
	// the admin role.
	adminRole := roleID(t, admin, "admin")
	userID := userID(t, admin, "admin")
	if err := roles.Assign(ctx, admin, adminRole, roles.AssignOpts{UserID: userID, DomainID: dom.ID}).ExtractErr(); err != nil {
		t.Fatalf("give admin the admin role on %s: %v", name, err)
	}
	d, err := openstack.New(openstack.Config{Name: "keystone", AuthURL: URL(t), Domain: name,
		Username: "admin", UserDomain: "Default",
		Secret:    func(context.Context) (string, error) { return password(), nil },
		Retention: opts.Retention, Now: opts.Now, HTTPClient: opts.HTTPClient,
		DomesticRegions: opts.DomesticRegions,
		Logger:          slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return d, dom.ID
}

var fixture struct {
	sync.Mutex
	done bool
}

// Fixture makes the catalog the tests need, once per process and
// idempotently: test binaries running at once may race to create the same
// thing, and a conflict means it is there.
func Fixture(t testing.TB, admin *gophercloud.ServiceClient) {
	t.Helper()
	fixture.Lock()
	defer fixture.Unlock()
	if fixture.done {
		return
	}
	ctx := context.Background()
	ok := func(what string, err error) {
		if err != nil && !gophercloud.ResponseCodeIs(err, http.StatusConflict) {
			t.Fatalf("Keystone fixture: %s: %v", what, err)
		}
	}
	defer func() { fixture.done = !t.Failed() }()
	for _, r := range []string{"member", "reader"} {
		pages, err := roles.List(admin, roles.ListOpts{Name: r}).AllPages(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rs, _ := roles.ExtractRoles(pages); len(rs) == 0 {
			_, err := roles.Create(ctx, admin, roles.CreateOpts{Name: r}).Extract()
			ok("create role "+r, err)
		}
	}
	for _, r := range append(append([]string{}, DomesticRegions...), ForeignRegion) {
		if _, err := regions.Get(ctx, admin, r).Extract(); gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
			_, err := regions.Create(ctx, admin, regions.CreateOpts{ID: r}).Extract()
			ok("create region "+r, err)
		}
	}
	// Limits are registered on compute; the endpoints that endpoint
	// filtering selects by region belong to a service of the fixture's
	// own, so that nothing reads them as a real compute service (the
	// inventory's test registers the simulated services).
	serviceID := ensureService(t, admin, "compute", "nova")
	fixtureID := ensureService(t, admin, FixtureServiceType, "hatoba-fixture")
	pages, err := endpoints.List(admin, endpoints.ListOpts{ServiceID: fixtureID}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	eps, _ := endpoints.ExtractEndpoints(pages)
	for _, r := range append(append([]string{}, DomesticRegions...), ForeignRegion) {
		found := false
		for _, e := range eps {
			found = found || e.Region == r
		}
		if !found {
			_, err := endpoints.Create(ctx, admin, endpoints.CreateOpts{ServiceID: fixtureID, Region: r,
				Availability: gophercloud.AvailabilityPublic, URL: "http://fixture." + r + ".invalid/", Name: "hatoba-fixture"}).Extract()
			ok("create endpoint in "+r, err)
		}
	}
	for _, res := range []string{"cores", "instances"} {
		for _, r := range DomesticRegions {
			pages, err := registeredlimits.List(admin, registeredlimits.ListOpts{ServiceID: serviceID, RegionID: r, ResourceName: res}).AllPages(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if ls, _ := registeredlimits.ExtractRegisteredLimits(pages); len(ls) == 0 {
				_, err := registeredlimits.BatchCreate(ctx, admin, registeredlimits.BatchCreateOpts{{ServiceID: serviceID, RegionID: r,
					ResourceName: res, DefaultLimit: 10}}).Extract()
				ok("register limit "+res+" in "+r, err)
			}
		}
	}
}

// EnsureService returns the id of the catalog's service of this type,
// creating it when there is none.
func EnsureService(t testing.TB, admin *gophercloud.ServiceClient, typ, name string) string {
	return ensureService(t, admin, typ, name)
}

func ensureService(t testing.TB, admin *gophercloud.ServiceClient, typ, name string) string {
	t.Helper()
	ctx := context.Background()
	pages, err := services.List(admin, services.ListOpts{ServiceType: typ}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ss, _ := services.ExtractServices(pages); len(ss) > 0 {
		return ss[0].ID
	}
	s, err := services.Create(ctx, admin, services.CreateOpts{Type: typ, Extra: map[string]any{"name": name}}).Extract()
	if err != nil {
		t.Fatalf("create service %s: %v", typ, err)
	}
	return s.ID
}

func roleID(t testing.TB, admin *gophercloud.ServiceClient, name string) string {
	t.Helper()
	pages, err := roles.List(admin, roles.ListOpts{Name: name}).AllPages(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rs, err := roles.ExtractRoles(pages)
	if err != nil || len(rs) == 0 {
		t.Fatalf("role %s: %v", name, err)
	}
	return rs[0].ID
}

func userID(t testing.TB, admin *gophercloud.ServiceClient, name string) string {
	t.Helper()
	pages, err := users.List(admin, users.ListOpts{Name: name, DomainID: "default"}).AllPages(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	us, err := users.ExtractUsers(pages)
	if err != nil || len(us) == 0 {
		t.Fatalf("user %s: %v", name, err)
	}
	return us[0].ID
}

// Unique returns a name no other test uses.
func Unique(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return strings.TrimSuffix(prefix, "-") + "-" + hex.EncodeToString(b[:])
}
