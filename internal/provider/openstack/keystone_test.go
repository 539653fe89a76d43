package openstack_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/provider"
	"github.com/hatoba-cloud/hatoba/internal/provider/openstack"
	"github.com/hatoba-cloud/hatoba/internal/provider/openstack/keystonetest"
)

// The conformance suite (internal/provider/providertest) covers what every
// driver does; these are what only this one does, on the real Keystone.

// TestCreateTwiceIsOneProject: a second CreateAccount for the same
// environment, made because the first one's answer was lost, gets
// Keystone's 409 and returns the project the first made.
func TestCreateTwiceIsOneProject(t *testing.T) {
	t.Parallel()
	d, _ := keystonetest.Driver(t, keystonetest.Options{})
	ctx := context.Background()
	spec := provider.AccountSpec{Name: "env-twice 住民記録", Email: "cloud+env-twice@sim.hatoba.invalid"}
	first, err := d.CreateAccount(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	second, err := d.CreateAccount(ctx, spec)
	if err != nil || second != first {
		t.Fatalf("second CreateAccount = %q, %v; want the first project %s", second, err, first)
	}
	// Another environment may not take the name.
	_, err = d.CreateAccount(ctx, provider.AccountSpec{Name: spec.Name, Email: "cloud+other@sim.hatoba.invalid"})
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Class != provider.Permanent || pe.Code != "NameTaken" {
		t.Fatalf("CreateAccount of a taken name = %v, want a permanent NameTaken", err)
	}
}

// TestUnitsConcurrently: workers vending into the same new unit at once
// make it once.
func TestUnitsConcurrently(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var ids [4]string
	var wg sync.WaitGroup
	// One driver per worker: none shares another's cache of units.
	d0, _ := keystonetest.Driver(t, keystonetest.Options{})
	drivers := []*openstack.Driver{d0, d0.Clone(), d0.Clone(), d0.Clone()}
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			ids[i], err = drivers[i].EnsureUnit(ctx, []string{"gov", "tokyo", "tax"})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("concurrent EnsureUnit gave %v", ids)
		}
	}
}

// TestAllowedRolesRefuse: a guardrail that does not allow the configured
// Administrator role makes AssignAccess fail permanently, naming the role.
func TestAllowedRolesRefuse(t *testing.T) {
	t.Parallel()
	d, _ := keystonetest.Driver(t, keystonetest.Options{})
	ctx := context.Background()
	req, err := d.CreateAccount(ctx, provider.AccountSpec{Name: "env-roles", Email: "cloud+env-roles@sim.hatoba.invalid"})
	if err != nil {
		t.Fatal(err)
	}
	doc := `{"format":"hatoba-openstack-guardrail/v1","endpoint_regions":["jp-east-1"],"allowed_roles":["member","reader"]}`
	if err := d.AttachPolicies(ctx, req, []provider.Policy{{Name: "hatoba-preventive-roles", Document: doc}}); err != nil {
		t.Fatal(err)
	}
	err = d.AssignAccess(ctx, req, provider.Access{AdminGroup: "hatoba-env-roles-administrators", MemberGroup: "hatoba-env-roles-members"})
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Class != provider.Permanent || pe.Code != "RoleNotAllowed" {
		t.Fatalf("AssignAccess = %v, want a permanent RoleNotAllowed", err)
	}
	regions, err := d.ProjectEndpointRegions(ctx, req)
	if err != nil || len(regions) != 1 || regions[0] != "jp-east-1" {
		t.Fatalf("endpoint regions = %v, %v; want [jp-east-1]", regions, err)
	}
}

// TestPurgeAfterRetention: a closed project stays, disabled, for the
// retention, and is deleted with its groups after it.
func TestPurgeAfterRetention(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	d, _ := keystonetest.Driver(t, keystonetest.Options{Retention: 30 * 24 * time.Hour, Now: clock})
	ctx := context.Background()
	spec := provider.AccountSpec{Name: "env-purge", Email: "cloud+env-purge@sim.hatoba.invalid"}
	id, err := d.CreateAccount(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	access := provider.Access{AdminGroup: "hatoba-env-purge-administrators", MemberGroup: "hatoba-env-purge-members"}
	if err := d.AssignAccess(ctx, id, access); err != nil {
		t.Fatal(err)
	}
	if err := d.AddGroupMember(ctx, access.AdminGroup, provider.Person{ID: "p-purge", DisplayName: "Purge"}); err != nil {
		t.Fatal(err)
	}
	if err := d.CloseAccount(ctx, id); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(29 * 24 * time.Hour)
	mu.Unlock()
	if n, err := d.PurgeClosed(ctx); err != nil || n != 0 {
		t.Fatalf("PurgeClosed within the retention = %d, %v; want 0", n, err)
	}
	if f, _ := d.FindAccount(ctx, spec); f.AccountID != id {
		t.Fatalf("the closed project is gone within the retention: %+v", f)
	}
	mu.Lock()
	now = now.Add(2 * 24 * time.Hour)
	mu.Unlock()
	if n, err := d.PurgeClosed(ctx); err != nil || n != 1 {
		t.Fatalf("PurgeClosed after the retention = %d, %v; want 1", n, err)
	}
	if f, _ := d.FindAccount(ctx, spec); f.AccountID != "" {
		t.Fatalf("the project outlived its retention: %+v", f)
	}
	if m, err := d.GroupMembers(ctx, access.AdminGroup); err != nil || len(m) != 0 {
		t.Fatalf("the group outlived its project: members %v, %v", m, err)
	}
	if n, err := d.PurgeClosed(ctx); err != nil || n != 0 {
		t.Fatalf("PurgeClosed again = %d, %v; want 0", n, err)
	}
}

// TestCatalogGuardrail: the catalog's preventive OpenStack control, rendered
// as serve renders it, is what the driver enforces: the project lists only
// the domestic regions' endpoints, and reconciling it away lifts the filter.
func TestCatalogGuardrail(t *testing.T) {
	t.Parallel()
	if controls.OpenStackGuardrailFormat != openstack.GuardrailFormat {
		t.Fatalf("controls render %q, the driver reads %q", controls.OpenStackGuardrailFormat, openstack.GuardrailFormat)
	}
	cs, err := controls.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	rendered, err := controls.RenderOpenStackGuardrails(cs, "hatoba-preventive")
	if err != nil || len(rendered) == 0 {
		t.Fatalf("rendered %d guardrails, %v", len(rendered), err)
	}
	var policies []provider.Policy
	for _, r := range rendered {
		policies = append(policies, provider.Policy{Name: r.Name, Description: r.Description, Document: r.Document})
	}
	d, _ := keystonetest.Driver(t, keystonetest.Options{})
	ctx := context.Background()
	id, err := d.CreateAccount(ctx, provider.AccountSpec{Name: "env-catalog", Email: "cloud+env-catalog@sim.hatoba.invalid"})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.AttachPolicies(ctx, id, policies); err != nil {
		t.Fatal(err)
	}
	regions, err := d.ProjectEndpointRegions(ctx, id)
	if err != nil || !slices.Equal(regions, keystonetest.DomesticRegions) {
		t.Fatalf("endpoint regions = %v, %v; want %v", regions, err, keystonetest.DomesticRegions)
	}
	if err := d.SetPolicies(ctx, id, "hatoba-preventive", nil); err != nil {
		t.Fatal(err)
	}
	if regions, err := d.ProjectEndpointRegions(ctx, id); err != nil || len(regions) != 0 {
		t.Fatalf("endpoint regions after the control is lifted = %v, %v; want no filter", regions, err)
	}
}

// TestDomesticRegionsStay: the connection's domestic regions are a
// guardrail reconciliation never takes off.
func TestDomesticRegionsStay(t *testing.T) {
	t.Parallel()
	d, _ := keystonetest.Driver(t, keystonetest.Options{DomesticRegions: []string{"jp-west-1"}})
	ctx := context.Background()
	id, err := d.CreateAccount(ctx, provider.AccountSpec{Name: "env-domestic", Email: "cloud+env-domestic@sim.hatoba.invalid"})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SetPolicies(ctx, id, "hatoba-preventive", nil); err != nil {
		t.Fatal(err)
	}
	regions, err := d.ProjectEndpointRegions(ctx, id)
	if err != nil || !slices.Equal(regions, []string{"jp-west-1"}) {
		t.Fatalf("endpoint regions = %v, %v; want [jp-west-1]", regions, err)
	}
}

// TestUnitTooDeep: a unit path deeper than Keystone's project tree allows
// (scripts/keystone.sh sets 10) fails permanently, saying which setting.
func TestUnitTooDeep(t *testing.T) {
	t.Parallel()
	d, _ := keystonetest.Driver(t, keystonetest.Options{})
	path := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"}
	_, err := d.EnsureUnit(context.Background(), path)
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Class != provider.Permanent || pe.Code != "UnitTooDeep" {
		t.Fatalf("EnsureUnit of %d levels = %v, want a permanent UnitTooDeep", len(path), err)
	}
}
