package vending_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/envaccess"
	"github.com/hatoba-cloud/hatoba/internal/identity"
	"github.com/hatoba-cloud/hatoba/internal/provider"
	"github.com/hatoba-cloud/hatoba/internal/simcloud"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
	"github.com/hatoba-cloud/hatoba/internal/vending"
)

// accessWorld is a world with people and the access capability.
type accessWorld struct {
	*world
	ids    *identity.Service
	access *envaccess.Service
}

var certSerial atomic.Int64

func newAccessWorld(t *testing.T, db *store.DB, simCfg simcloud.Config) *accessWorld {
	t.Helper()
	w := &accessWorld{world: newWorld(t, db, simCfg)}
	w.ids = identity.New(db, identity.Options{InvitationTTL: time.Hour}, nil)
	w.access = envaccess.New(db, w.envs, w.ids, w.orgs, nil)
	return w
}

// engine is world.engine with the access capability.
func (w *accessWorld) engine(t *testing.T, p provider.Provider) *vending.Engine {
	t.Helper()
	e, err := vending.New(w.db, w.envs, w.orgs, vending.Config{
		Connections: []vending.Connection{{Name: "sim", Provider: p, PollInterval: 10 * time.Millisecond,
			Allowed: []env.Classification{env.Level1, env.Level2, env.Level3}}},
		DefaultBilling: provider.Contact{Name: "desk", Email: "desk@example.jp", Phone: "+81-3-0000-0000"},
		RetryBase:      20 * time.Millisecond, RetryMax: 200 * time.Millisecond, MaxAttempts: 25,
		SlotPollInterval: 10 * time.Millisecond, FetchPollInterval: 20 * time.Millisecond,
		ResumeInterval: 200 * time.Millisecond, JobTimeout: 20 * time.Second, Logger: quiet, Access: w.access,
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (w *accessWorld) person(t *testing.T, role authz.Role, orgID, name string) string {
	t.Helper()
	ctx := context.Background()
	p, token, err := w.ids.Bootstrap(ctx, identity.Invitation{Role: role, OrgID: orgID, DisplayName: name})
	if err != nil {
		t.Fatal(err)
	}
	cert := identity.Certificate{IssuerDN: "CN=Test CA", Serial: fmt.Sprint(certSerial.Add(1)), NotAfter: time.Now().Add(time.Hour)}
	if _, err := w.ids.Accept(ctx, token, cert); err != nil {
		t.Fatal(err)
	}
	return p.ID
}

// readyEnv vends one environment of nat-digital.
func (w *accessWorld) readyEnv(t *testing.T, e *vending.Engine) string {
	t.Helper()
	id := w.request(t, e, 1, "nat-digital")[0]
	if en := w.waitSettled(t, []string{id}, 60*time.Second)[id]; en.State != env.Ready {
		t.Fatalf("environment %s: %s", en.State, en.StateReason)
	}
	return id
}

// waitAccess polls until the person's assignment is settled (applied,
// failed, or gone) and returns it; found is false when it is gone.
func (w *accessWorld) waitAccess(t *testing.T, envID, personID string) (envaccess.Assignment, bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		a, err := w.access.Get(context.Background(), envID, personID)
		if err != nil {
			return a, false
		}
		if !a.Unsettled() {
			return a, true
		}
		if time.Now().After(deadline) {
			t.Fatalf("access of %s to %s still %s: %s", personID, envID, a.State, a.LastError)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// groups reports who the simulated cloud holds in an environment's groups.
func (w *accessWorld) groups(t *testing.T, envID string) (admins, members string) {
	t.Helper()
	g := vending.AccessGroups(envID)
	list := func(name string) string {
		got, err := w.sim.GroupMembers(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(got, ",")
	}
	return list(g.AdminGroup), list(g.MemberGroup)
}

// TestAccessFlowsToTheProvider assigns a person, moves them to the other
// set and takes the set away; after each change the workers make the
// simulated cloud's groups agree — also when a third of the provider's
// answers fail or are lost.
func TestAccessFlowsToTheProvider(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		sim  simcloud.Config
	}{
		{"reliable", simcloud.Config{}},
		{"flaky", simcloud.Config{TransientRate: 0.15, LostResponseRate: 0.2, Seed: 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				ctx := context.Background()
				w := newAccessWorld(t, db, tc.sim)
				e := w.engine(t, w.driver(t))
				if err := e.Start(ctx); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = e.Stop(context.Background()) })
				envID := w.readyEnv(t, e)
				admin := authz.Principal{PersonID: w.person(t, authz.TenantAdmin, "nat-digital", "管理 者"), Role: authz.TenantAdmin, OrgID: "nat-digital"}
				member := w.person(t, authz.TenantMember, "nat-digital", "山田 太郎")

				steps := []struct {
					name                string
					do                  func() (envaccess.Assignment, error)
					wantAdmins, wantMem string
					gone                bool
				}{
					{"assign", func() (envaccess.Assignment, error) {
						return e.AssignAccess(ctx, admin, "", envID, member, envaccess.NonAdministrator)
					}, "", member, false},
					{"move", func() (envaccess.Assignment, error) {
						return e.AssignAccess(ctx, admin, "", envID, member, envaccess.Administrator)
					}, member, "", false},
					{"unassign", func() (envaccess.Assignment, error) {
						a, _, err := e.UnassignAccess(ctx, admin, "", envID, member)
						return a, err
					}, "", "", true},
				}
				for _, st := range steps {
					a, err := st.do()
					if err != nil {
						t.Fatalf("%s: %v", st.name, err)
					}
					if !a.Unsettled() {
						t.Fatalf("%s: answered %s, want a change still to be applied", st.name, a.State)
					}
					got, found := w.waitAccess(t, envID, member)
					if found == st.gone || (found && got.State != envaccess.Applied) {
						t.Fatalf("%s: settled as %+v (found %v)", st.name, got, found)
					}
					if admins, members := w.groups(t, envID); admins != st.wantAdmins || members != st.wantMem {
						t.Fatalf("%s: administrators %q members %q, want %q %q", st.name, admins, members, st.wantAdmins, st.wantMem)
					}
				}
			})
		})
	}
}

// TestAccessResumesAfterACrash: an assignment committed by a process that
// died before it queued the job is applied by the resumer of the next.
func TestAccessResumesAfterACrash(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newAccessWorld(t, db, simcloud.Config{})
		first := w.engine(t, w.driver(t))
		if err := first.Start(ctx); err != nil {
			t.Fatal(err)
		}
		envID := w.readyEnv(t, first)
		if err := first.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		admin := authz.Principal{PersonID: w.person(t, authz.TenantAdmin, "nat-digital", "管理 者"), Role: authz.TenantAdmin, OrgID: "nat-digital"}
		member := w.person(t, authz.TenantMember, "nat-digital", "佐藤 花子")
		// Committed, but no job: the process died right after the commit.
		if _, err := w.access.Assign(ctx, admin, "", envID, member, envaccess.Administrator); err != nil {
			t.Fatal(err)
		}
		second := w.engine(t, w.driver(t))
		if err := second.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = second.Stop(context.Background()) })
		if a, found := w.waitAccess(t, envID, member); !found || a.State != envaccess.Applied {
			t.Fatalf("after restart: %+v (found %v)", a, found)
		}
		if admins, _ := w.groups(t, envID); admins != member {
			t.Fatalf("administrators %q, want %s", admins, member)
		}
	})
}

// refuseMembers refuses group memberships permanently until released.
type refuseMembers struct {
	provider.Provider
	refuse atomic.Bool
}

func (r *refuseMembers) AddGroupMember(ctx context.Context, group string, p provider.Person) error {
	if r.refuse.Load() {
		return &provider.Error{Class: provider.Permanent, Op: "CreateUser", Code: "ValidationException", Err: fmt.Errorf("the identity store refuses %s", p.ID)}
	}
	return r.Provider.AddGroupMember(ctx, group, p)
}

// TestAccessFailsPermanentlyAndIsRetried: a permanent refusal marks the
// assignment failed with the reason, without retrying; assigning again
// after the cause is fixed applies it.
func TestAccessFailsPermanentlyAndIsRetried(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newAccessWorld(t, storetest.Open(t, store.SQLite), simcloud.Config{})
	p := &refuseMembers{Provider: w.driver(t)}
	e := w.engine(t, p)
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Stop(context.Background()) })
	envID := w.readyEnv(t, e)
	admin := authz.Principal{PersonID: w.person(t, authz.TenantAdmin, "nat-digital", "管理 者"), Role: authz.TenantAdmin, OrgID: "nat-digital"}
	member := w.person(t, authz.TenantMember, "nat-digital", "鈴木 一郎")
	p.refuse.Store(true)
	if _, err := e.AssignAccess(ctx, admin, "", envID, member, envaccess.NonAdministrator); err != nil {
		t.Fatal(err)
	}
	a, found := w.waitAccess(t, envID, member)
	if !found || a.State != envaccess.Failed || !strings.Contains(a.LastError, "ValidationException") {
		t.Fatalf("after a refusal: %+v", a)
	}
	p.refuse.Store(false)
	if _, err := e.AssignAccess(ctx, admin, "", envID, member, envaccess.NonAdministrator); err != nil {
		t.Fatal(err)
	}
	if a, found := w.waitAccess(t, envID, member); !found || a.State != envaccess.Applied || a.LastError != "" {
		t.Fatalf("after assigning again: %+v", a)
	}
	if _, members := w.groups(t, envID); !slices.Contains(strings.Split(members, ","), member) {
		t.Fatalf("members %q lack %s", members, member)
	}
}
