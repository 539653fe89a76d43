package placement_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/placement"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

func TestJudge(t *testing.T) {
	t.Parallel()
	def := placement.Default()
	if err := def.Validate(); err != nil {
		t.Fatal(err)
	}
	strict := placement.Default()
	strict.Rules = append(strict.Rules,
		placement.Rule{Classification: "level2", OrgID: "lg-1", Tiers: []string{placement.TierDomestic}, OnBreach: placement.Refuse},
		placement.Rule{Classification: "level1", OrgID: "lg-2", Providers: []string{"aws-tokyo"}, OnBreach: placement.Approve})
	strict.OneProviderPerSystem = placement.SystemRule{Enabled: true, OnBreach: placement.Refuse}
	if err := strict.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		policy placement.Policy
		c      placement.Candidate
		rules  []string
		reason string
	}{
		{"ok/level3 on domestic", def, placement.Candidate{Classification: "level3", Provider: "domestic", Tier: "domestic"}, nil, ""},
		{"ok/level1 anywhere", def, placement.Candidate{Classification: "level1", Provider: "sim", Tier: "hyperscaler"}, nil, ""},
		{"ok/level2 on hyperscaler", def, placement.Candidate{Classification: "level2", Provider: "sim", Tier: "hyperscaler"}, nil, ""},
		{"fail/level3 on hyperscaler", def, placement.Candidate{Classification: "level3", Provider: "sim", Tier: "hyperscaler"}, []string{"level3"},
			"classification level3 may not be placed on provider sim (tier hyperscaler): placement rule level3 allows tiers [domestic] and providers []"},
		{"ok/an organisation's rule holds in its subtree only", strict, placement.Candidate{Classification: "level2", Provider: "sim", Tier: "hyperscaler", Ancestors: []string{"lg-9", "pref-13"}}, nil, ""},
		{"fail/an organisation's rule holds below it", strict, placement.Candidate{Classification: "level2", Provider: "sim", Tier: "hyperscaler", Ancestors: []string{"lg-1-a", "lg-1"}}, []string{"level2@lg-1"}, "placement rule level2@lg-1"},
		{"ok/a provider named whatever its tier", strict, placement.Candidate{Classification: "level1", Provider: "aws-tokyo", Tier: "hyperscaler", Ancestors: []string{"lg-2"}}, nil, ""},
		{"fail/not the named provider nor a listed tier", strict, placement.Candidate{Classification: "level1", Provider: "sim", Tier: "hyperscaler", Ancestors: []string{"lg-2"}}, []string{"level1@lg-2"}, "providers [aws-tokyo]"},
		{"ok/the system's other environments on the same provider", strict, placement.Candidate{OrgID: "lg-9", System: "住民記録", Classification: "level1", Provider: "sim", Tier: "hyperscaler",
			Others: []placement.Placed{{EnvID: "env-a", Provider: "sim"}}}, nil, ""},
		{"fail/the system's other environments elsewhere", strict, placement.Candidate{OrgID: "lg-9", System: "住民記録", Classification: "level1", Provider: "sim", Tier: "hyperscaler",
			Others: []placement.Placed{{EnvID: "env-a", Provider: "domestic"}, {EnvID: "env-b", Provider: "sim"}}}, []string{placement.RuleOneProvider},
			`system "住民記録" of lg-9 stays on one provider, and its other environments are elsewhere: env-a (domestic), while this one is on sim`},
		{"ok/the one-provider rule off", def, placement.Candidate{Classification: "level1", Provider: "sim", Tier: "hyperscaler",
			Others: []placement.Placed{{EnvID: "env-a", Provider: "domestic"}}}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bs := tt.policy.Judge(tt.c)
			var got []string
			for _, b := range bs {
				got = append(got, b.Rule)
			}
			if strings.Join(got, ",") != strings.Join(tt.rules, ",") {
				t.Fatalf("broken rules %v, want %v (%+v)", got, tt.rules, bs)
			}
			if tt.reason != "" && !strings.Contains(bs[0].Reason, tt.reason) {
				t.Errorf("reason %q, want it to say %q", bs[0].Reason, tt.reason)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	c := placement.Candidate{Classification: "level3", Provider: "sim", Tier: "hyperscaler"}
	approve := placement.Breach{Rule: "level3", OnBreach: placement.Approve, Reason: "r1"}
	refuse := placement.Breach{Rule: placement.RuleOneProvider, OnBreach: placement.Refuse, Reason: "r2", Environments: []string{"env-a"}}

	reasons, err := placement.Decide(c, []placement.Breach{approve}, false, "the request")
	if err != nil || strings.Join(reasons, ";") != "r1" {
		t.Fatalf("an approve rule: %v %v, want the reason for the queue", reasons, err)
	}
	_, err = placement.Decide(c, []placement.Breach{approve, refuse}, false, "the request")
	r, ok := placement.AsRefusal(err)
	if !ok || len(r.Breaches) != 1 || r.Breaches[0].Rule != placement.RuleOneProvider || fault.KindOf(err) != fault.Invalid {
		t.Fatalf("a refuse rule: %v, want a refusal naming the one-provider rule", err)
	}
	if fe, _ := fault.As(err); fe.Field != "provider" || !strings.Contains(fe.Message, "the request refused by the placement policy: r2") {
		t.Errorf("refusal %q on %q", fe.Message, fe.Field)
	}
	if _, err := placement.Decide(c, []placement.Breach{approve}, true, "the transfer"); err == nil {
		t.Error("a transfer breaking an approve rule was not refused (it has no approval queue)")
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		p    placement.Policy
		want string
	}{
		{"fail/classification", placement.Policy{Rules: []placement.Rule{{Classification: "secret", Tiers: []string{"domestic"}, OnBreach: "approve"}}}, `"secret" is not one of`},
		{"fail/tier", placement.Policy{Rules: []placement.Rule{{Classification: "level3", Tiers: []string{"offshore"}, OnBreach: "approve"}}}, `"offshore" is not one of`},
		{"fail/nothing allowed", placement.Policy{Rules: []placement.Rule{{Classification: "level3", OnBreach: "approve"}}}, "allows no tier and no provider"},
		{"fail/on_breach", placement.Policy{Rules: []placement.Rule{{Classification: "level3", Tiers: []string{"domestic"}, OnBreach: "ignore"}}}, `"ignore" is not approve or refuse`},
		{"fail/twice", placement.Policy{Rules: []placement.Rule{{Classification: "level3", Tiers: []string{"domestic"}, OnBreach: "approve"}, {Classification: "level3", Tiers: []string{"domestic"}, OnBreach: "refuse"}}}, "a second rule level3"},
		{"fail/system on_breach", placement.Policy{OneProviderPerSystem: placement.SystemRule{Enabled: true, OnBreach: "maybe"}}, "one_provider_per_system.on_breach"},
		{"ok/same classification in two organisations", placement.Policy{Rules: []placement.Rule{{Classification: "level3", OrgID: "a", Tiers: []string{"domestic"}, OnBreach: "approve"}, {Classification: "level3", OrgID: "b", Tiers: []string{"domestic"}, OnBreach: "refuse"}}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.p.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || fault.KindOf(err) != fault.Invalid || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want an invalid error saying %q", err, tt.want)
			}
		})
	}
}

func TestServiceSeedPutAudit(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		at := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
		s := placement.NewService(db, func() time.Time { return at })
		p, err := s.Current(ctx)
		if err != nil || p.Version != 0 || len(p.Rules) != 3 {
			t.Fatalf("before seeding: %+v %v, want the default at version 0", p, err)
		}
		seed := placement.Policy{Rules: []placement.Rule{{Classification: "level3", Tiers: []string{"domestic"}, OnBreach: placement.Refuse}}}
		if ok, err := s.Seed(ctx, seed); err != nil || !ok {
			t.Fatalf("Seed: %v %v", ok, err)
		}
		if ok, err := s.Seed(ctx, placement.Default()); err != nil || ok {
			t.Fatalf("second Seed: %v %v, want nothing stored (the database holds the policy)", ok, err)
		}
		p, err = s.Current(ctx)
		if err != nil || p.Version != 1 || len(p.Rules) != 1 || p.Rules[0].OnBreach != placement.Refuse || p.ChangedBy != "system" {
			t.Fatalf("seeded: %+v %v", p, err)
		}
		// A change based on version 1.
		next := p
		next.Rules = append(next.Rules, placement.Rule{Classification: "level2", OrgID: "lg-1", Tiers: []string{"domestic"}, OnBreach: placement.Approve})
		next.OneProviderPerSystem = placement.SystemRule{Enabled: true, OnBreach: placement.Refuse}
		got, err := s.Put(ctx, "p-operator", next)
		if err != nil || got.Version != 2 || got.ChangedBy != "p-operator" || !got.OneProviderPerSystem.Enabled || len(got.Rules) != 2 || !got.ChangedAt.Equal(at) {
			t.Fatalf("Put: %+v %v", got, err)
		}
		// Another change based on version 1 is stale.
		if _, err := s.Put(ctx, "p-other", p); fault.KindOf(err) != fault.Conflict {
			t.Fatalf("a stale Put: %v, want a conflict", err)
		}
		bad := got
		bad.Rules = []placement.Rule{{Classification: "level9", Tiers: []string{"domestic"}, OnBreach: placement.Approve}}
		if _, err := s.Put(ctx, "p-operator", bad); fault.KindOf(err) != fault.Invalid {
			t.Fatalf("an invalid Put: %v", err)
		}
		if cur, _ := s.Current(ctx); cur.Version != 2 {
			t.Fatalf("after refused changes the policy is at version %d, want 2", cur.Version)
		}
		// Audited: the seed as the system, the change as the person, with
		// the previous and the new policy.
		rows, err := db.QueryContext(ctx, `SELECT actor, action, details FROM audit_queue UNION ALL SELECT actor, action, details FROM audit_entries ORDER BY action`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var seen []string
		for rows.Next() {
			var actor, action, details string
			if err := rows.Scan(&actor, &action, &details); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(action, "placement.") {
				continue
			}
			seen = append(seen, actor+" "+action)
			if action == "placement.policy.update" {
				var d struct {
					Version         int             `json:"version"`
					PreviousVersion int             `json:"previous_version"`
					Previous        json.RawMessage `json:"previous"`
					New             json.RawMessage `json:"new"`
				}
				if err := json.Unmarshal([]byte(details), &d); err != nil {
					t.Fatal(err)
				}
				if d.Version != 2 || d.PreviousVersion != 1 || strings.Contains(string(d.Previous), "lg-1") || !strings.Contains(string(d.New), "lg-1") {
					t.Errorf("update details %s", details)
				}
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if strings.Join(seen, "; ") != "system placement.policy.seed; p-operator placement.policy.update" {
			t.Errorf("audited %v", seen)
		}
	})
}
