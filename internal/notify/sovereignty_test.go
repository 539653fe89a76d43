package notify_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/notify"
	"github.com/hatoba-cloud/hatoba/internal/org"
	"github.com/hatoba-cloud/hatoba/internal/posture"
	"github.com/hatoba-cloud/hatoba/internal/sovereignty"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

// Sovereignty's findings reach the organisation's channels as every
// detective finding does, through posture's hook: a collection that
// finds a resource abroad and an enforced floor breached
// (aws-region-domestic, hatoba-sovereignty-floor); and a floor breached
// between collections — a profile edit that lowers a level — opens the
// floor's finding at the rescore and sends it, and the edit taken back
// resolves it (cmd/hatoba wires sovereignty's Drift to posture's
// Reevaluate as here).
func TestSovereigntyFindingsReachChannels(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if _, err := org.New(db, time.Now).Create(ctx, audit.Acting{Actor: "system"}, org.Organization{ID: "nat-digital", Kind: org.KindNational, NameJa: "デジタル庁"}); err != nil {
			t.Fatal(err)
		}
		envs := env.NewStore(db, time.Now)
		for id, conn := range map[string]string{"env-aws": "sim", "env-dom": "domestic"} {
			if err := envs.Insert(ctx, db, env.Environment{ID: id, OrgID: "nat-digital", SystemName: id, Purpose: env.Production,
				Classification: env.Level3, Provider: conn, State: env.Ready, AccountEmail: id + "@example.invalid"}, nil); err != nil {
				t.Fatal(err)
			}
		}
		cs, err := controls.Builtin()
		if err != nil {
			t.Fatal(err)
		}
		engine, err := controls.NewEngine(ctx, cs)
		if err != nil {
			t.Fatal(err)
		}
		clk := &clock{t: start}
		s := newService(t, db, clk, notify.Options{})
		rc := newReceiver(t)
		ch, err := s.CreateChannel(ctx, "p-a", "", "nat-digital", notify.ChannelSpec{Name: "soc", Kind: notify.Webhook, URL: rc.srv.URL, MinSeverity: sev(controls.Low)})
		if err != nil {
			t.Fatal(err)
		}
		rc.key = ch.SigningKey
		p := posture.New(db, engine, clk.now)
		p.SetNotifier(notify.PostureHook{S: s})

		facts := map[string]sovereignty.Facts{
			"env-aws": {Environment: "env-aws", Organization: "nat-digital", Classification: "level3", Connection: "sim", ResourceRegions: []string{"us-east-1"}},
			"env-dom": {Environment: "env-dom", Organization: "nat-digital", Classification: "level3", Connection: "domestic"},
		}
		floors := sovereignty.DefaultFloors()
		floors["level3"] = sovereignty.Floor{Mode: sovereignty.ModeEnforce, Levels: floors["level3"].Levels}
		eng, err := sovereignty.NewEngine(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		sov := sovereignty.NewService(db, sovereignty.Options{Engine: eng, Floors: floors, Now: clk.now,
			Facts: func(_ context.Context, id string, _ []controls.Resource) (sovereignty.Facts, error) {
				f, ok := facts[id]
				if !ok {
					return sovereignty.Facts{}, fault.NotFoundf("no environment %s", id)
				}
				return f, nil
			},
			Environments: func(_ context.Context, conn string) ([]string, error) {
				var ids []string
				for id, f := range facts {
					if conn == "" || f.Connection == conn {
						ids = append(ids, id)
					}
				}
				return ids, nil
			},
			Drift: func(ctx context.Context, r sovereignty.Report) error {
				_, _, err := p.Reevaluate(ctx, r.Environment, r.Organization, r.Resource())
				return err
			},
		})
		docs, err := sovereignty.ExampleDocuments()
		if err != nil {
			t.Fatal(err)
		}
		var domestic string
		for _, d := range docs {
			if _, err := sov.Import(ctx, d); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(d), "connection: domestic") {
				domestic = string(d)
			}
		}
		// collect is what cmd/hatoba's collector does: the inventory and
		// the assessment made of it, recorded together.
		collect := func(envID string, inv []controls.Resource) {
			t.Helper()
			rep, err := sov.AssessInventory(ctx, envID, inv)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Record(ctx, envID, "nat-digital", append(inv, rep.Resource())); err != nil {
				t.Fatal(err)
			}
		}
		sent := func() []string {
			t.Helper()
			drain(t, s)
			var ids []string
			for _, r := range rc.received() {
				for _, e := range r.msg.Events {
					ids = append(ids, e.EnvID+" "+e.ControlID)
				}
			}
			slices.Sort(ids)
			return slices.Compact(ids)
		}

		bucket := controls.Resource{Provider: "aws", Type: "aws_s3_bucket", ID: "arn:aws:s3:::abroad", Region: "us-east-1", Environment: "env-aws",
			Config: map[string]any{"bucket": "abroad"}}
		collect("env-aws", []controls.Resource{bucket})
		collect("env-dom", []controls.Resource{})
		got := sent()
		for _, want := range []string{"env-aws aws-region-domestic", "env-aws hatoba-sovereignty-floor"} {
			if !slices.Contains(got, want) {
				t.Errorf("the channel did not receive %q: %v", want, got)
			}
		}
		for _, g := range got {
			if strings.HasPrefix(g, "env-dom ") {
				t.Errorf("the domestic environment reaches its floor, yet the channel received %q", g)
			}
		}

		// Between collections: the domestic provider's staff lose their
		// clearance (SOV-4 falls below 3) and the rescore sends the
		// breach without waiting for the next collection.
		v2 := strings.Replace(strings.Replace(domestic, "version: 1", "version: 2", 1), "clearance: {value: true", "clearance: {value: false", 1)
		if _, err := sov.Put(ctx, "p-central", []byte(v2)); err != nil {
			t.Fatal(err)
		}
		clk.add(time.Minute)
		if _, _, err := sov.Rescore(ctx, "domestic"); err != nil {
			t.Fatal(err)
		}
		if got := sent(); !slices.Contains(got, "env-dom hatoba-sovereignty-floor") {
			t.Fatalf("the floor breached between collections was not sent: %v", got)
		}
		// Rescored again with nothing changed: nothing is re-evaluated.
		before := len(rc.received())
		if _, _, err := sov.Rescore(ctx, "domestic"); err != nil {
			t.Fatal(err)
		}
		if drain(t, s); len(rc.received()) != before {
			t.Errorf("an unchanged rescore sent %d more messages", len(rc.received())-before)
		}
		// Taken back: the finding resolves, and so does its event.
		v3 := strings.Replace(v2, "version: 2", "version: 3", 1)
		v3 = strings.Replace(v3, "clearance: {value: false", "clearance: {value: true", 1)
		if _, err := sov.Put(ctx, "p-central", []byte(v3)); err != nil {
			t.Fatal(err)
		}
		clk.add(time.Minute)
		if _, _, err := sov.Rescore(ctx, "domestic"); err != nil {
			t.Fatal(err)
		}
		evs, err := s.Events(ctx, "nat-digital", true, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if e.EnvID == "env-dom" && e.Status != "resolved" {
				t.Errorf("the floor's event stays %s after the edit was taken back", e.Status)
			}
		}
		// The inventory the rescore evaluated is the one collected, with
		// the new assessment in place of the old.
		inv, err := p.Inventory(ctx, "env-dom")
		if err != nil || len(inv) != 1 || inv[0].Type != sovereignty.ResourceType || inv[0].Config["profile_version"] != float64(3) {
			t.Fatalf("env-dom's inventory after the rescore: %+v %v", inv, err)
		}
	})
}
