package authz_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/fault"
)

// tree: pref ─┬─ cityA
//
//	└─ cityB
//
// other (a second prefecture)
type tree map[string]string // child → parent

func (t tree) AncestorIDs(_ context.Context, id string) ([]string, error) {
	if _, ok := t[id]; !ok {
		return nil, fault.NotFoundf("no organisation %s", id)
	}
	var out []string
	for p := t[id]; p != ""; p = t[p] {
		out = append(out, p)
	}
	return out, nil
}

var orgs = tree{"pref": "", "cityA": "pref", "cityB": "pref", "other": ""}

var now = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func TestDecide(t *testing.T) {
	a := authz.New(orgs, 10*time.Minute, func() time.Time { return now })
	env := func(org string) authz.Resource { return authz.Resource{Kind: "environment", ID: "e1", OrgID: org} }
	prefAdmin := authz.Principal{PersonID: "p1", Role: authz.TenantAdmin, OrgID: "pref"}
	cityMember := authz.Principal{PersonID: "p2", Role: authz.TenantMember, OrgID: "cityA"}
	operator := authz.Principal{PersonID: "p3", Role: authz.CentralOperator}
	granted := operator
	granted.Grants = []authz.Grant{{ID: "g1", OrgID: "cityA", Expiry: now.Add(time.Hour)}}
	expired := operator
	expired.Grants = []authz.Grant{{ID: "g0", OrgID: "cityA", Expiry: now}}
	auditor := authz.Principal{PersonID: "p4", Role: authz.CentralAuditor}
	fresh := prefAdmin
	fresh.SecondFactorAt = now.Add(-time.Minute)
	stale := prefAdmin
	stale.SecondFactorAt = now.Add(-time.Hour)
	owner := fresh
	owner.KeyOwner = true
	staleOwner := owner
	staleOwner.SecondFactorAt = now.Add(-time.Hour)
	cityOwner := authz.Principal{PersonID: "p5", Role: authz.TenantAdmin, OrgID: "cityA", KeyOwner: true, SecondFactorAt: now}
	grantedOwner := granted
	grantedOwner.SecondFactorAt = now
	keys := func(org string) authz.Resource { return authz.Resource{Kind: "key store", OrgID: org} }

	tests := []struct {
		name    string
		p       authz.Principal
		action  authz.Action
		res     authz.Resource
		want    fault.Kind // "" = allowed
		grantID string
	}{
		{"admin reads an env of its own org", prefAdmin, authz.ReadEnvs, env("pref"), "", ""},
		{"admin reads an env of a child org", prefAdmin, authz.ReadEnvs, env("cityB"), "", ""},
		{"admin cannot see another prefecture's env", prefAdmin, authz.ReadEnvs, env("other"), fault.NotFound, ""},
		{"member cannot see its parent's env", cityMember, authz.ReadEnvs, env("pref"), fault.NotFound, ""},
		{"member cannot see a sibling's env", cityMember, authz.ReadEnvs, env("cityB"), fault.NotFound, ""},
		{"member may not request", cityMember, authz.RequestEnv, env("cityA"), fault.Forbidden, ""},
		{"operator may not request without a grant", operator, authz.RequestEnv, env("cityA"), fault.NotFound, ""},
		{"operator may request under a grant", granted, authz.RequestEnv, env("cityA"), "", "g1"},
		{"a grant does not reach a sibling", granted, authz.RequestEnv, env("cityB"), fault.NotFound, ""},
		{"an expired grant gives nothing", expired, authz.RequestEnv, env("cityA"), fault.NotFound, ""},
		{"operator decides requests anywhere", operator, authz.DecideEnv, env("other"), "", ""},
		{"admin may not decide requests", prefAdmin, authz.DecideEnv, env("pref"), fault.Forbidden, ""},
		{"auditor reads everything", auditor, authz.ReadEnvs, env("other"), "", ""},
		{"auditor changes nothing", auditor, authz.RetryEnv, env("other"), fault.Forbidden, ""},
		{"approving access needs a second factor", prefAdmin, authz.ApproveAccess, env("pref"), fault.Forbidden, ""},
		{"approving access with a stale second factor", stale, authz.ApproveAccess, env("pref"), fault.Forbidden, ""},
		{"approving access with a fresh second factor", fresh, authz.ApproveAccess, env("pref"), "", ""},
		{"operator creates organisations", operator, authz.WriteOrgs, authz.Resource{}, "", ""},
		{"admin may not create organisations", prefAdmin, authz.WriteOrgs, authz.Resource{}, fault.Forbidden, ""},
		{"operator reads platform audit entries", operator, authz.ReadAudit, authz.Resource{}, "", ""},
		{"operator may not read a tenant's audit entries", operator, authz.ReadAudit, authz.Resource{OrgID: "cityA"}, fault.Forbidden, ""},
		{"nobody is nobody", authz.Principal{}, authz.ReadSystem, authz.Resource{}, fault.Unauthenticated, ""},
		{"an unknown action is refused", operator, authz.Action("env.destroy-everything"), authz.Resource{}, fault.Forbidden, ""},
		{"an unknown organisation is out of scope", prefAdmin, authz.ReadEnvs, env("nowhere"), fault.NotFound, ""},
		{"the key owner manages its keys", owner, authz.ManageKeys, keys("pref"), "", ""},
		{"the key owner manages a child's keys", owner, authz.ManageKeys, keys("cityA"), "", ""},
		{"the key owner needs a fresh second factor", staleOwner, authz.ManageKeys, keys("pref"), fault.Forbidden, ""},
		{"a key owner cannot reach its parent's keys", cityOwner, authz.ManageKeys, keys("pref"), fault.Forbidden, ""},
		{"a key owner cannot reach another tenant's keys", owner, authz.ManageKeys, keys("other"), fault.Forbidden, ""},
		{"an administrator who is not key owner may not manage keys", fresh, authz.ManageKeys, keys("pref"), fault.Forbidden, ""},
		{"an administrator reads its keys", prefAdmin, authz.ReadKeys, keys("pref"), "", ""},
		{"a member may not read keys", cityMember, authz.ReadKeys, keys("cityA"), fault.Forbidden, ""},
		{"an operator may not manage a tenant's keys", operator, authz.ManageKeys, keys("cityA"), fault.Forbidden, ""},
		{"not even under a grant", grantedOwner, authz.ManageKeys, keys("cityA"), fault.Forbidden, ""},
		{"an operator may not read a tenant's keys", operator, authz.ReadKeys, keys("cityA"), fault.Forbidden, ""},
		{"an operator seals the key service", operator, authz.SealKeys, authz.Resource{}, "", ""},
		{"an administrator may not seal it", fresh, authz.SealKeys, authz.Resource{}, fault.Forbidden, ""},
		{"an administrator designates key owners", fresh, authz.AssignKeyOwner, keys("cityA"), "", ""},
		{"an operator may not designate key owners", operator, authz.AssignKeyOwner, keys("cityA"), fault.Forbidden, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := a.Decide(context.Background(), tt.p, tt.action, tt.res)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if d.GrantID != tt.grantID {
					t.Fatalf("grant = %q, want %q", d.GrantID, tt.grantID)
				}
				return
			}
			if err == nil {
				t.Fatalf("allowed, want %s", tt.want)
			}
			if got := fault.KindOf(err); got != tt.want {
				t.Fatalf("kind = %s (%v), want %s", got, err, tt.want)
			}
		})
	}
}

// An out-of-scope refusal must read exactly like a missing resource, or a
// tenant could probe other tenants' ids.
func TestOutOfScopeLooksLikeNotFound(t *testing.T) {
	a := authz.New(orgs, time.Minute, nil)
	p := authz.Principal{PersonID: "p", Role: authz.TenantMember, OrgID: "cityA"}
	_, err := a.Decide(context.Background(), p, authz.ReadEnvs, authz.Resource{Kind: "environment", ID: "X1", OrgID: "other"})
	if err == nil || err.Error() != "no environment X1" {
		t.Fatalf("err = %v, want exactly %q", err, "no environment X1")
	}
}

func TestSecondFactorRefusalIsMarked(t *testing.T) {
	a := authz.New(orgs, time.Minute, nil)
	p := authz.Principal{PersonID: "p", Role: authz.TenantAdmin, OrgID: "pref"}
	_, err := a.Decide(context.Background(), p, authz.ApproveAccess, authz.Resource{OrgID: "pref"})
	if !errors.Is(err, authz.ErrSecondFactor) {
		t.Fatalf("err = %v, want ErrSecondFactor", err)
	}
}

// TestCardConfirmation: a request confirmed by the card passes the
// second-factor rule without a WebAuthn assertion, and only the rule:
// the role, the key-owner mark and the scope still decide.
func TestCardConfirmation(t *testing.T) {
	a := authz.New(orgs, time.Minute, func() time.Time { return now })
	owner := authz.Principal{PersonID: "p", Role: authz.TenantAdmin, OrgID: "pref", KeyOwner: true, CardConfirmation: "ab12"}
	ks := func(org string) authz.Resource { return authz.Resource{Kind: "key store", OrgID: org} }
	if _, err := a.Decide(context.Background(), owner, authz.ManageKeys, ks("cityA")); err != nil {
		t.Fatalf("card-confirmed key owner: %v", err)
	}
	unconfirmed := owner
	unconfirmed.CardConfirmation = ""
	if _, err := a.Decide(context.Background(), unconfirmed, authz.ManageKeys, ks("cityA")); !errors.Is(err, authz.ErrSecondFactor) {
		t.Fatalf("unconfirmed key owner: %v, want ErrSecondFactor", err)
	}
	if _, err := a.Decide(context.Background(), owner, authz.ManageKeys, ks("other")); err == nil {
		t.Fatal("a card confirmation reached another organisation")
	}
	notOwner := owner
	notOwner.KeyOwner = false
	if _, err := a.Decide(context.Background(), notOwner, authz.ManageKeys, ks("cityA")); err == nil || errors.Is(err, authz.ErrSecondFactor) {
		t.Fatalf("a card-confirmed administrator who is no key owner: %v", err)
	}
}

func TestScopeOf(t *testing.T) {
	a := authz.New(orgs, time.Minute, func() time.Time { return now })
	granted := authz.Principal{PersonID: "o", Role: authz.CentralOperator, Grants: []authz.Grant{
		{ID: "g1", OrgID: "cityA", Expiry: now.Add(time.Hour)}, {ID: "g0", OrgID: "cityB", Expiry: now.Add(-time.Hour)}}}
	tests := []struct {
		name   string
		p      authz.Principal
		action authz.Action
		want   authz.Scope
	}{
		{"auditor sees all", authz.Principal{Role: authz.CentralAuditor}, authz.ReadAudit, authz.Scope{All: true, Platform: true}},
		{"operator sees the platform's audit entries only", authz.Principal{Role: authz.CentralOperator}, authz.ReadAudit, authz.Scope{Platform: true}},
		{"admin sees its subtree", authz.Principal{Role: authz.TenantAdmin, OrgID: "pref"}, authz.ReadEnvs, authz.Scope{Roots: []string{"pref"}}},
		{"live grants only", granted, authz.AssignAccess, authz.Scope{Roots: []string{"cityA"}}},
		{"a member sees no people", authz.Principal{Role: authz.TenantMember, OrgID: "cityA"}, authz.ReadPeople, authz.Scope{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := a.ScopeOf(tt.p, tt.action)
			if got.All != tt.want.All || got.Platform != tt.want.Platform || len(got.Roots) != len(tt.want.Roots) {
				t.Fatalf("scope = %+v, want %+v", got, tt.want)
			}
			for i := range got.Roots {
				if got.Roots[i] != tt.want.Roots[i] {
					t.Fatalf("scope = %+v, want %+v", got, tt.want)
				}
			}
		})
	}
}

// Every action a handler may name has a rule, and every rule names at
// least one role: a typo in an action constant cannot silently deny (or
// allow) everything.
func TestPolicyCoversEveryAction(t *testing.T) {
	for _, action := range authz.Actions() {
		var anyRole bool
		for _, r := range authz.Roles {
			for _, keyOwner := range []bool{false, true} {
				if authz.Allows(authz.Principal{Role: r, KeyOwner: keyOwner}, action) {
					anyRole = true
				}
			}
		}
		if !anyRole {
			t.Errorf("action %s has a rule no role satisfies", action)
		}
	}
}

// Only a role some permit reaches under a grant takes grants.
func TestTakesGrants(t *testing.T) {
	for _, r := range authz.Roles {
		if got, want := r.TakesGrants(), r == authz.CentralOperator; got != want {
			t.Errorf("%s.TakesGrants() = %v, want %v", r, got, want)
		}
	}
}
