package openstack_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	gcos "github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/applicationcredentials"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/endpoints"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/roles"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/services"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/users"

	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/provider"
	"github.com/hatoba-cloud/hatoba/internal/provider/openstack/keystonetest"
	"github.com/hatoba-cloud/hatoba/internal/simcloud"
)

// TestInventory reads projects' resources through gophercloud from the
// simulated Nova, Neutron, Cinder and Swift, registered as endpoints in
// the real Keystone's catalog, and runs the catalog's OpenStack controls
// on them: the planted non-compliance is found.
func TestInventory(t *testing.T) {
	t.Parallel()
	admin := keystonetest.Admin(t)
	ctx := context.Background()
	const seed = 7
	sim, err := simcloud.Open(simcloud.Config{Seed: seed, AccessKeyID: "AKIDTEST", SecretAccessKey: "test-secret", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(func() { srv.Close(); _ = sim.Close() })
	regions := []string{"jp-east-1", "jp-west-1", keystonetest.ForeignRegion}
	registerSimulatedServices(t, admin, srv.URL, regions)

	d, domainID := keystonetest.Driver(t, keystonetest.Options{})
	cs, err := controls.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	engine, err := controls.NewEngine(ctx, cs)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]int{}
	kinds := map[string]int{}
	for i := range 40 {
		id, err := d.CreateAccount(ctx, provider.AccountSpec{Name: fmt.Sprintf("env-inv-%d", i), Email: fmt.Sprintf("cloud+env-inv-%d@sim.hatoba.invalid", i)})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			// A person of the project makes an application credential
			// that never expires and may make others.
			personCredential(t, admin, domainID, id)
		}
		rs, err := d.ListResources(ctx, id)
		if err != nil {
			t.Fatalf("ListResources: %v", err)
		}
		// Exactly what the simulated services hold for the project.
		want := map[string]int{}
		for _, r := range regions {
			inv := simcloud.GenerateOpenStackInventory(seed, id, r)
			want["openstack_compute_instance_v2/"+r] += len(inv.Servers)
			want["openstack_blockstorage_volume_v3/"+r] += len(inv.Volumes)
			want["openstack_objectstorage_container_v1/"+r] += len(inv.Containers)
			want["openstack_images_image_v2/"+r] += len(inv.Images)
			for _, g := range inv.SecurityGroups {
				want["openstack_networking_secgroup_rule_v2/"+r] += len(g["security_group_rules"].([]map[string]any))
			}
		}
		got := map[string]int{}
		var res []controls.Resource
		for _, r := range rs {
			got[r.Type+"/"+r.Region]++
			kinds[r.Type]++
			res = append(res, controls.Resource{Provider: "openstack", Type: r.Type, ID: r.ID, Region: r.Region, Environment: id, Config: r.Config})
		}
		if i == 0 {
			want["openstack_identity_application_credential_v3/"] = 1
		}
		for k, n := range want {
			if got[k] != n {
				t.Fatalf("project %s: %d of %s, want %d", id, got[k], k, n)
			}
		}
		vs, err := engine.Evaluate(ctx, res, func(c controls.Control) bool { return strings.HasPrefix(c.ID, "openstack-") })
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			found[v.ControlID]++
		}
	}
	for _, k := range []string{"openstack_compute_instance_v2", "openstack_networking_secgroup_rule_v2", "openstack_blockstorage_volume_v3", "openstack_objectstorage_container_v1",
		"openstack_images_image_v2", "openstack_identity_application_credential_v3"} {
		if kinds[k] == 0 {
			t.Errorf("no %s in 40 projects' inventories", k)
		}
	}
	// What the driver says it reads (GET /api/v1/providers) is what it read.
	var read []string
	for k := range kinds {
		read = append(read, k)
	}
	slices.Sort(read)
	if said := d.Capabilities().Inventory; !slices.Equal(said, read) {
		t.Errorf("Capabilities().Inventory = %v, the inventory read %v", said, read)
	}
	// The planted non-compliance (simcloud/openstack.go's rates) over 40
	// projects: each kind shows at least once.
	for _, c := range []string{"openstack-secgroup-no-public-admin-ports", "openstack-volume-encrypted", "openstack-region-domestic",
		"openstack-images-not-public", "openstack-app-credential-restricted", "openstack-app-credential-expires"} {
		if found[c] == 0 {
			t.Errorf("control %s found nothing in 40 projects (findings: %v)", c, found)
		}
	}
	t.Logf("findings over 40 projects: %v; resources: %v", found, kinds)
}

// registerSimulatedServices puts the simulated services in Keystone's
// catalog for the test, first removing what an earlier run (or a fixture
// of older tests) left of these service types: nothing else registers
// them, and an endpoint nobody answers at would fail every inventory.
func registerSimulatedServices(t *testing.T, admin *gophercloud.ServiceClient, base string, regions []string) {
	t.Helper()
	ctx := context.Background()
	spages, err := services.List(admin, services.ListOpts{}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ss, _ := services.ExtractServices(spages)
	inventoried := map[string]bool{}
	for _, s := range ss {
		if _, ok := simcloud.OpenStackServiceTypes[s.Type]; ok {
			inventoried[s.ID] = true
		}
	}
	epages, err := endpoints.List(admin, endpoints.ListOpts{}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	eps, _ := endpoints.ExtractEndpoints(epages)
	for _, e := range eps {
		if inventoried[e.ServiceID] && (strings.Contains(e.URL, ".invalid") || strings.Contains(e.URL, simcloud.OpenStackPrefix)) {
			_ = endpoints.Delete(ctx, admin, e.ID).ExtractErr()
		}
	}
	var made []string
	for _, ep := range simcloud.OpenStackEndpoints(base, regions) {
		sid := keystonetest.EnsureService(t, admin, ep.ServiceType, ep.ServiceType)
		e, err := endpoints.Create(ctx, admin, endpoints.CreateOpts{ServiceID: sid, Region: ep.Region, Availability: gophercloud.AvailabilityPublic,
			URL: ep.URL, Name: "hatoba-simcloud"}).Extract()
		if err != nil {
			t.Fatalf("register %s in %s: %v", ep.ServiceType, ep.Region, err)
		}
		made = append(made, e.ID)
	}
	t.Cleanup(func() {
		for _, id := range made {
			if err := endpoints.Delete(context.Background(), admin, id).ExtractErr(); err != nil && !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
				t.Logf("remove endpoint %s: %v", id, err)
			}
		}
	})
}

// personCredential makes a user in the domain with the member role on the
// project, signs in as them and makes an unrestricted application
// credential without expiry, as a person of the project would: Keystone
// lets only the user make their own.
func personCredential(t *testing.T, admin *gophercloud.ServiceClient, domainID, projectID string) {
	t.Helper()
	ctx := context.Background()
	pw := keystonetest.Unique("pw-")
	enabled := true
	u, err := users.Create(ctx, admin, users.CreateOpts{Name: keystonetest.Unique("person-"), DomainID: domainID, Password: pw, Enabled: &enabled}).Extract()
	if err != nil {
		t.Fatalf("create user: %v", err)
	}
	pages, err := roles.List(admin, roles.ListOpts{Name: "member"}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := roles.ExtractRoles(pages)
	if err != nil || len(rs) == 0 {
		t.Fatalf("role member: %v", err)
	}
	if err := roles.Assign(ctx, admin, rs[0].ID, roles.AssignOpts{UserID: u.ID, ProjectID: projectID}).ExtractErr(); err != nil {
		t.Fatalf("assign member: %v", err)
	}
	pc, err := gcos.AuthenticatedClient(ctx, gophercloud.AuthOptions{IdentityEndpoint: keystonetest.URL(t), UserID: u.ID, Password: pw,
		Scope: &gophercloud.AuthScope{ProjectID: projectID}})
	if err != nil {
		t.Fatalf("sign in as the person: %v", err)
	}
	sc, err := gcos.NewIdentityV3(pc, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	ac, err := applicationcredentials.Create(ctx, sc, u.ID, applicationcredentials.CreateOpts{Name: keystonetest.Unique("deploy-"), Unrestricted: true}).Extract()
	if err != nil {
		t.Fatalf("create application credential: %v", err)
	}
	// Deleted one by one, Keystone removes the credential's role rows too;
	// removed with its user or project, SQLite may keep them (foreign keys
	// unenforced), and the next credential given the freed internal id is
	// refused with a 409.
	t.Cleanup(func() {
		if err := applicationcredentials.Delete(context.Background(), sc, u.ID, ac.ID).ExtractErr(); err != nil {
			t.Errorf("delete application credential: %v", err)
		}
	})
}
