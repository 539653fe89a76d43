package sovereignty_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/sovereignty"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

func newService(t *testing.T, db *store.DB, facts map[string]sovereignty.Facts) *sovereignty.Service {
	t.Helper()
	eng, err := sovereignty.NewEngine(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return sovereignty.NewService(db, sovereignty.Options{Engine: eng,
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
		Now: func() time.Time { return assessedOn },
	})
}

func readExample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("profiles/" + name + ".yaml")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestServiceProfilesAreVersionedAndAudited(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newService(t, db, nil)
		doc := readExample(t, "aws-example")
		if ok, err := s.Import(ctx, doc); err != nil || !ok {
			t.Fatalf("Import: %v %v", ok, err)
		}
		if ok, err := s.Import(ctx, doc); err != nil || ok {
			t.Fatalf("Import of the same version again: imported %v, %v; want nothing", ok, err)
		}
		// A change must be based on the stored version.
		_, err := s.Put(ctx, "p-central", doc)
		if fault.KindOf(err) != fault.Conflict || !strings.Contains(err.Error(), "version: 2") {
			t.Fatalf("Put of version 1 over version 1: %v; want a conflict naming version 2", err)
		}
		v2 := strings.Replace(string(doc), "version: 1", "version: 2", 1)
		v2 = strings.Replace(v2, "clearance: {value: false", "clearance: {value: true", 1)
		sp, err := s.Put(ctx, "p-central", []byte(v2))
		if err != nil || sp.Profile.Version != 2 || !sp.Profile.Staff.Clearance.Value {
			t.Fatalf("Put v2: %+v %v", sp.Profile.Staff.Clearance, err)
		}
		moved := strings.Replace(strings.Replace(v2, "version: 2", "version: 3", 1), "connection: sim", "connection: other", 1)
		if _, err := s.Put(ctx, "p-central", []byte(moved)); fault.KindOf(err) != fault.Invalid {
			t.Fatalf("moving a profile to another connection: %v; want invalid", err)
		}
		got, err := s.ForConnection(ctx, "sim")
		if err != nil || got.Profile.Version != 2 || got.ChangedBy != "p-central" {
			t.Fatalf("ForConnection: v%d by %s, %v", got.Profile.Version, got.ChangedBy, err)
		}
		old, err := s.Profile(ctx, "aws-example", 1)
		if err != nil || old.Profile.Staff.Clearance.Value {
			t.Fatalf("version 1 is kept as it was: %v", err)
		}
		if _, err := s.ForConnection(ctx, "nowhere"); fault.KindOf(err) != fault.NotFound {
			t.Fatalf("a connection without a profile: %v", err)
		}
		var actions []string
		rows, err := db.QueryContext(ctx, `SELECT actor, action FROM audit_queue ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var actor, action string
			if err := rows.Scan(&actor, &action); err != nil {
				t.Fatal(err)
			}
			actions = append(actions, actor+" "+action)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		want := "system sovereignty.profile.import,p-central sovereignty.profile.update"
		if strings.Join(actions, ",") != want {
			t.Fatalf("audit: %v; want %s", actions, want)
		}
	})
}

func TestServiceAssessKeepsAndRescores(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		facts := map[string]sovereignty.Facts{
			"env-a": {Environment: "env-a", Organization: "lg-131016", Classification: "level3", Connection: "sim", ResourceRegions: []string{"ap-northeast-1"}},
			"env-b": {Environment: "env-b", Organization: "lg-011002", Classification: "level1", Connection: "sim", ResourceRegions: []string{"us-east-1"}},
		}
		s := newService(t, db, facts)
		doc := readExample(t, "aws-example")
		if _, err := s.Import(ctx, doc); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Latest(ctx, "env-a"); fault.KindOf(err) != fault.NotFound {
			t.Fatalf("before any assessment: %v", err)
		}
		done, failed, err := s.Rescore(ctx, "")
		if err != nil || done != 2 || failed != 0 {
			t.Fatalf("Rescore: %d done %d failed %v", done, failed, err)
		}
		scores, err := s.Scores(ctx, []string{"lg-131016"})
		if err != nil || len(scores) != 1 || scores[0].Environment != "env-a" || scores[0].Score != 45 || len(scores[0].Breaches) != 3 {
			t.Fatalf("Scores of one organisation: %+v %v", scores, err)
		}
		b, err := s.Latest(ctx, "env-b")
		if err != nil || b.Levels["SOV-3"] != 0 || len(b.Residency) != 1 {
			t.Fatalf("env-b with a resource in us-east-1: %+v %v", b.Levels, err)
		}

		// A profile edit rescores the connection's environments without
		// waiting for the periodic round.
		go s.Run(ctx, time.Hour)
		v2 := strings.Replace(string(doc), "version: 1", "version: 2", 1)
		v2 = strings.Replace(v2, "operations_countries: {value: [JP, US]", "operations_countries: {value: [JP]", 1)
		if _, err := s.Put(ctx, "p-central", []byte(v2)); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(time.Minute)
		for {
			a, err := s.Latest(ctx, "env-a")
			if err != nil {
				t.Fatal(err)
			}
			if a.ProfileVersion == 2 {
				if a.Levels["SOV-4"] != 2 {
					t.Fatalf("after operations moved to Japan: SOV-4 %d; want 2", a.Levels["SOV-4"])
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the profile edit did not rescore env-a within a minute")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// TestAdmitEnforcedFloor: an enforced floor refuses a new environment on
// a provider whose profile does not reach it, naming the objectives; a
// reported floor and a provider that reaches it admit; a connection
// without a profile cannot be judged and is refused under enforcement.
func TestAdmitEnforcedFloor(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		eng, err := sovereignty.NewEngine(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		floors := sovereignty.DefaultFloors()
		floors["level3"] = sovereignty.Floor{Mode: sovereignty.ModeEnforce, Levels: floors["level3"].Levels}
		s := sovereignty.NewService(db, sovereignty.Options{Engine: eng, Floors: floors, Now: func() time.Time { return assessedOn }})
		for _, n := range []string{"aws-example", "openstack-domestic-example"} {
			if _, err := s.Import(ctx, readExample(t, n)); err != nil {
				t.Fatal(err)
			}
		}
		err = s.Admit(ctx, "sim", "level3")
		if fe, ok := fault.As(err); !ok || fe.Kind != fault.Invalid || fe.Field != "provider" || !strings.Contains(err.Error(), "SOV-2 2 < 3") {
			t.Fatalf("level3 on the AWS example under an enforced floor: %v; want refused naming SOV-2", err)
		}
		if err := s.Admit(ctx, "domestic", "level3"); err != nil {
			t.Fatalf("level3 on the domestic example: %v", err)
		}
		if err := s.Admit(ctx, "sim", "level2"); err != nil {
			t.Fatalf("level2 (floor in report mode) on AWS: %v", err)
		}
		if err := s.Admit(ctx, "nowhere", "level3"); fault.KindOf(err) != fault.Invalid || !strings.Contains(err.Error(), "no sovereignty profile") {
			t.Fatalf("level3 on a connection without a profile: %v", err)
		}
	})
}
