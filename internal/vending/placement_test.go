package vending_test

import (
	"context"
	"strings"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/placement"
	"github.com/hatoba-cloud/hatoba/internal/simcloud"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
	"github.com/hatoba-cloud/hatoba/internal/vending"
)

// placementEngine has a hyperscaler connection (sim) and a domestic one;
// it is never started: requests and transfers are judged and recorded
// without a worker.
func placementEngine(t *testing.T, w *world, places *placement.Service) *vending.Engine {
	t.Helper()
	all := []env.Classification{env.Level1, env.Level2, env.Level3}
	e, err := vending.New(w.db, w.envs, w.orgs, vending.Config{Placement: places, Logger: quiet, Connections: []vending.Connection{
		{Name: "sim", Provider: w.driver(t), Allowed: all},
		{Name: "domestic", Provider: w.driver(t), Tier: placement.TierDomestic, Kind: "openstack", Allowed: all},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func putPolicy(t *testing.T, s *placement.Service, change func(*placement.Policy)) {
	t.Helper()
	p, err := s.Current(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	change(&p)
	if _, err := s.Put(context.Background(), "p-operator", p); err != nil {
		t.Fatal(err)
	}
}

func TestPlacementAtRequest(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db, simcloud.Config{})
		places := placement.NewService(db, nil)
		if _, err := places.Seed(ctx, placement.Default()); err != nil {
			t.Fatal(err)
		}
		e := placementEngine(t, w, places)
		req := func(system string, purpose env.Purpose, cl env.Classification, prov string) (env.Environment, error) {
			en, _, err := e.Request(ctx, env.Request{OrgID: "nat-digital", SystemName: system, Purpose: purpose, Classification: cl, Provider: prov}, "")
			return en, err
		}

		// The default: level3 off the domestic tier waits for approval, with the rule.
		en, err := req("kokuho", env.Production, env.Level3, "sim")
		if err != nil || en.State != env.Requested || !strings.Contains(en.ApprovalNotes, "classification level3 may not be placed on provider sim (tier hyperscaler): placement rule level3 allows tiers [domestic]") {
			t.Fatalf("level3 on sim: %s %q %v", en.State, en.ApprovalNotes, err)
		}
		if en, err := req("kokuho-d", env.Production, env.Level3, "domestic"); err != nil || en.State != env.Approved {
			t.Fatalf("level3 on the domestic tier: %s %q %v", en.State, en.ApprovalNotes, err)
		}

		// The rule says refuse: a 422 naming classification, provider, tier and rule; nothing stored.
		putPolicy(t, places, func(p *placement.Policy) { p.Rules[0].OnBreach = placement.Refuse })
		_, err = req("jukishi", env.Production, env.Level3, "sim")
		r, ok := placement.AsRefusal(err)
		if !ok || fault.KindOf(err) != fault.Invalid || r.Classification != "level3" || r.Provider != "sim" || r.Tier != "hyperscaler" || r.Breaches[0].Rule != "level3" {
			t.Fatalf("refused request: %v (%+v)", err, r)
		}
		if page, err := w.envs.List(ctx, env.ListParams{}); err != nil || len(page.Items) != 2 {
			t.Fatalf("a refused request stored something: %d environments, %v", len(page.Items), err)
		}

		// One system on one provider.
		first, err := req("juminhyo", env.Production, env.Level2, "domestic")
		if err != nil {
			t.Fatal(err)
		}
		putPolicy(t, places, func(p *placement.Policy) {
			p.OneProviderPerSystem = placement.SystemRule{Enabled: true, OnBreach: placement.Approve}
		})
		en, err = req("juminhyo", env.Staging, env.Level2, "sim")
		if err != nil || en.State != env.Requested || !strings.Contains(en.ApprovalNotes, `system "juminhyo" of nat-digital stays on one provider, and its other environments are elsewhere: `+first.ID+` (domestic), while this one is on sim`) {
			t.Fatalf("another provider for the system, approve: %s %q %v", en.State, en.ApprovalNotes, err)
		}
		// A rejected request is not live: the system's environments are the others.
		if _, err := e.Reject(ctx, en.ID, "p-operator", "on one provider, please"); err != nil {
			t.Fatal(err)
		}
		putPolicy(t, places, func(p *placement.Policy) { p.OneProviderPerSystem.OnBreach = placement.Refuse })
		_, err = req("juminhyo", env.Development, env.Level2, "sim")
		if r, ok := placement.AsRefusal(err); !ok || r.Breaches[0].Rule != placement.RuleOneProvider || !strings.Contains(err.Error(), first.ID+" (domestic)") {
			t.Fatalf("another provider for the system, refuse: %v", err)
		}
		if en, err := req("juminhyo", env.Development, env.Level2, "domestic"); err != nil || en.State != env.Approved {
			t.Fatalf("the system's own provider: %s %v", en.State, err)
		}
	})
}

func TestPlacementAtTransfer(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db, simcloud.Config{})
		places := placement.NewService(db, nil)
		e := placementEngine(t, w, places)
		ready := func(system string, prov string) env.Environment {
			t.Helper()
			en, _, err := e.Request(ctx, env.Request{OrgID: "nat-digital", SystemName: system, Purpose: env.Production, Classification: env.Level2, Provider: prov}, "")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.envs.Transition(ctx, db, en.ID, []env.State{env.Approved}, env.Ready, "test", "ready for the test"); err != nil {
				t.Fatal(err)
			}
			return en
		}
		onSim, onDomestic := ready("furusato", "sim"), ready("furusato-d", "domestic")
		// J-LIS keeps level2 on the domestic tier.
		putPolicy(t, places, func(p *placement.Policy) {
			p.Rules = append(p.Rules, placement.Rule{Classification: "level2", OrgID: "qp-jlis", Tiers: []string{placement.TierDomestic}, OnBreach: placement.Approve})
		})
		_, err := e.Transfer(ctx, onSim.ID, "qp-jlis", "p-operator")
		if r, ok := placement.AsRefusal(err); !ok || r.Breaches[0].Rule != "level2@qp-jlis" || !strings.Contains(err.Error(), "the transfer of "+onSim.ID+" to qp-jlis refused by the placement policy") {
			t.Fatalf("transfer onto a tier the target's rule forbids: %v", err)
		}
		if cur, _ := w.envs.Get(ctx, db, onSim.ID); cur.OrgID != "nat-digital" {
			t.Fatalf("a refused transfer moved the environment to %s", cur.OrgID)
		}
		if out, err := e.Transfer(ctx, onDomestic.ID, "qp-jlis", "p-operator"); err != nil || out.OrgID != "qp-jlis" {
			t.Fatalf("transfer of a domestic environment: %v", err)
		}

		// The target organisation's system of the same name is on another provider.
		putPolicy(t, places, func(p *placement.Policy) {
			p.Rules = p.Rules[:len(p.Rules)-1]
			p.OneProviderPerSystem = placement.SystemRule{Enabled: true, OnBreach: placement.Approve}
		})
		if _, _, err := e.Request(ctx, env.Request{OrgID: "qp-jlis", SystemName: "furusato", Purpose: env.Staging, Classification: env.Level2, Provider: "domestic"}, ""); err != nil {
			t.Fatal(err)
		}
		_, err = e.Transfer(ctx, onSim.ID, "qp-jlis", "p-operator")
		if r, ok := placement.AsRefusal(err); !ok || r.Breaches[0].Rule != placement.RuleOneProvider {
			t.Fatalf("transfer next to the system on another provider: %v", err)
		}
	})
}
