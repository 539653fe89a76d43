package openstack_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/projects"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/org"
	"github.com/hatoba-cloud/hatoba/internal/provider"
	"github.com/hatoba-cloud/hatoba/internal/provider/openstack/keystonetest"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
	"github.com/hatoba-cloud/hatoba/internal/vending"
)

// TestVendingOnKeystone runs hatoba's vending workflow, unchanged, on the
// openstack driver and the real Keystone: environments become ready with
// their project, unit, guardrail, groups and tags; a transfer moves one to
// the other organisation's unit; a close disables its project.
func TestVendingOnKeystone(t *testing.T) {
	t.Parallel()
	d, _ := keystonetest.Driver(t, keystonetest.Options{DomesticRegions: keystonetest.DomesticRegions})
	ctx := context.Background()
	db := storetest.Open(t, store.SQLite)
	orgs := org.New(db, time.Now)
	for _, o := range []org.Organization{
		{ID: "nat-digital", Kind: org.KindNational, NameJa: "デジタル庁", NameEn: "Digital Agency"},
		{ID: "qp-jlis", Kind: org.KindQuasiPublic, NameJa: "地方公共団体情報システム機構", NameEn: "J-LIS"},
	} {
		if _, err := orgs.Create(ctx, audit.Acting{Actor: "system"}, o); err != nil {
			t.Fatal(err)
		}
	}
	envs := env.NewStore(db, time.Now)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	e, err := vending.New(db, envs, orgs, vending.Config{
		Connections: []vending.Connection{{Name: "domestic", Provider: d, Cap: 3, PollInterval: 10 * time.Millisecond,
			Allowed: []env.Classification{env.Level1, env.Level2, env.Level3}}},
		DefaultBilling: provider.Contact{Name: "desk", Email: "desk@example.jp", Phone: "+81-3-0000-0000"},
		RetryBase:      50 * time.Millisecond, RetryMax: time.Second, MaxAttempts: 25,
		SlotPollInterval: 10 * time.Millisecond, FetchPollInterval: 20 * time.Millisecond,
		ResumeInterval: 200 * time.Millisecond, JobTimeout: time.Minute, Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Stop(context.Background()) })
	var ids []string
	for i := range 3 {
		en, _, err := e.Request(ctx, env.Request{OrgID: "nat-digital", SystemName: fmt.Sprintf("住民記録/%d", i),
			Purpose: env.Production, Classification: env.Level3, Provider: "domestic"}, "")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, en.ID)
	}
	wait := func(id string, ok func(env.Environment) bool) env.Environment {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		for {
			en, err := envs.Get(ctx, db, id)
			if err != nil {
				t.Fatal(err)
			}
			if ok(en) {
				return en
			}
			if en.State == env.Failed || time.Now().After(deadline) {
				t.Fatalf("%s is %s: %s", id, en.State, en.StateReason)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	ready := func(en env.Environment) bool { return en.State == env.Ready }
	for _, id := range ids {
		en := wait(id, ready)
		// The workflow's groups have the configured roles on the project.
		access := vending.AccessGroups(id)
		for _, g := range []string{access.AdminGroup, access.MemberGroup} {
			if _, err := d.GroupMembers(ctx, g); err != nil {
				t.Fatal(err)
			}
		}
		regions, err := d.ProjectEndpointRegions(ctx, en.AccountID)
		if err != nil || !slices.Equal(regions, keystonetest.DomesticRegions) {
			t.Fatalf("%s sees regions %v, %v; want the domestic ones", id, regions, err)
		}
	}
	first := wait(ids[0], ready)
	unitBefore, err := d.UnitOf(ctx, first.AccountID)
	if err != nil || unitBefore == "" {
		t.Fatalf("unit of %s = %q, %v", first.AccountID, unitBefore, err)
	}
	if _, err := e.Transfer(ctx, ids[0], "qp-jlis", "test"); err != nil {
		t.Fatal(err)
	}
	// The move is the workflow's job after the transfer: the project's
	// unit tag changes to the new organisation's unit.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		unitAfter, err := d.UnitOf(ctx, first.AccountID)
		if err != nil {
			t.Fatal(err)
		}
		if unitAfter != unitBefore && unitAfter != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the transfer the project is still in unit %q", unitAfter)
		}
	}
	if _, err := e.Close(ctx, ids[1], "test", "no longer needed"); err != nil {
		t.Fatal(err)
	}
	closed := wait(ids[1], func(en env.Environment) bool { return en.State == env.Closed })
	if f, err := d.FindAccount(ctx, provider.AccountSpec{Email: closed.AccountEmail}); err != nil || f.AccountID != closed.AccountID {
		t.Fatalf("the closed project is gone before its retention: %+v, %v", f, err)
	}
	p, err := projects.Get(ctx, keystonetest.Admin(t), closed.AccountID).Extract()
	if err != nil || p.Enabled {
		t.Fatalf("the closed project: %+v, %v; want it disabled", p, err)
	}
}
