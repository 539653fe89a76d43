package breakglass_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/breakglass"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/identity"
	"github.com/hatoba-cloud/hatoba/internal/org"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type world struct {
	db  *store.DB
	clk *clock
	bg  *breakglass.Service
	// people, each with a fresh second factor unless the test removes it
	requester, second, tenantAdmin, foreignAdmin, member authz.Principal
}

func newWorld(t *testing.T, db *store.DB) *world {
	t.Helper()
	ctx := context.Background()
	orgs := org.New(db, time.Now)
	for _, o := range []org.Organization{
		{ID: "nat-digital", Kind: org.KindNational, NameJa: "デジタル庁"},
		{ID: "nat-other", Kind: org.KindNational, NameJa: "他の庁"},
	} {
		if _, err := orgs.Create(ctx, audit.Acting{Actor: "system"}, o); err != nil {
			t.Fatal(err)
		}
	}
	w := &world{db: db, clk: &clock{t: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)}}
	ids := identity.New(db, identity.Options{InvitationTTL: time.Hour}, w.clk.now)
	person := func(role authz.Role, orgID string) authz.Principal {
		p, _, err := ids.Bootstrap(ctx, identity.Invitation{Role: role, OrgID: orgID, DisplayName: string(role)})
		if err != nil {
			t.Fatal(err)
		}
		return authz.Principal{PersonID: p.ID, Role: role, OrgID: orgID, SecondFactorAt: w.clk.now()}
	}
	w.requester = person(authz.CentralOperator, "")
	w.second = person(authz.CentralOperator, "")
	w.tenantAdmin = person(authz.TenantAdmin, "nat-digital")
	w.foreignAdmin = person(authz.TenantAdmin, "nat-other")
	w.member = person(authz.TenantMember, "nat-digital")
	az := authz.New(orgs, 10*time.Minute, w.clk.now)
	w.bg = breakglass.New(db, az, 8*time.Hour, w.clk.now)
	return w
}

func (w *world) file(t *testing.T) breakglass.Request {
	t.Helper()
	r, err := w.bg.File(context.Background(), w.requester, "nat-digital", "investigate the failed vending of env-123", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func kindIs(t *testing.T, err error, want fault.Kind, what string) {
	t.Helper()
	if fault.KindOf(err) != want {
		t.Fatalf("%s: err = %v, want %s", what, err, want)
	}
}

func TestTwoApprovalsMakeAGrant(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		req := w.file(t)

		_, err := w.bg.Approve(ctx, w.requester, req.ID, "")
		kindIs(t, err, fault.Forbidden, "self-approval")
		_, err = w.bg.Approve(ctx, w.foreignAdmin, req.ID, "")
		kindIs(t, err, fault.NotFound, "another tenant's admin")
		_, err = w.bg.Approve(ctx, w.member, req.ID, "")
		kindIs(t, err, fault.Forbidden, "a tenant member")
		stale := w.tenantAdmin
		stale.SecondFactorAt = time.Time{}
		if _, err := w.bg.Approve(ctx, stale, req.ID, ""); !errors.Is(err, authz.ErrSecondFactor) {
			t.Fatalf("approval without a second factor: %v", err)
		}

		got, err := w.bg.Approve(ctx, w.second, req.ID, "ok from the centre")
		if err != nil {
			t.Fatal(err)
		}
		if got.State != breakglass.Pending {
			t.Fatalf("one approval made it %s, want still pending", got.State)
		}
		if g, _ := w.bg.ActiveGrants(ctx, w.requester.PersonID); len(g) != 0 {
			t.Fatalf("grant without the tenant's approval: %v", g)
		}
		_, err = w.bg.Approve(ctx, w.second, req.ID, "")
		kindIs(t, err, fault.Conflict, "the same half twice")

		got, err = w.bg.Approve(ctx, w.tenantAdmin, req.ID, "ok from the tenant")
		if err != nil {
			t.Fatal(err)
		}
		if got.State != breakglass.Active || got.ExpiresAt == nil || !got.ExpiresAt.Equal(w.clk.now().Add(time.Hour)) {
			t.Fatalf("after both approvals: %+v", got)
		}
		grants, err := w.bg.ActiveGrants(ctx, w.requester.PersonID)
		if err != nil || len(grants) != 1 || grants[0].ID != req.ID || grants[0].OrgID != "nat-digital" {
			t.Fatalf("grants = %v, %v", grants, err)
		}

		// Expiry is enforced by the clock, before any sweeper runs.
		w.clk.add(time.Hour)
		if g, _ := w.bg.ActiveGrants(ctx, w.requester.PersonID); len(g) != 0 {
			t.Fatalf("grant outlived its expiry: %v", g)
		}
		if n, err := w.bg.ExpireDue(ctx); err != nil || n != 1 {
			t.Fatalf("expire: %d %v", n, err)
		}
		_, err = w.bg.Revoke(ctx, w.tenantAdmin, req.ID, "")
		kindIs(t, err, fault.Conflict, "revoking an expired grant")

		// The tenant was told at every step, and the log has each step.
		notes, err := w.bg.Notifications(ctx, []string{"nat-digital"}, 50)
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for i := len(notes) - 1; i >= 0; i-- {
			kinds = append(kinds, notes[i].Kind)
		}
		want := "access.request,access.approve,access.approve,access.grant,access.expire"
		if strings.Join(kinds, ",") != want {
			t.Fatalf("notifications %v, want %s", kinds, want)
		}
		recs := integrated(t, db)
		var steps []string
		for _, r := range recs {
			if strings.HasPrefix(r.Action, "access.") {
				steps = append(steps, r.Action+"/"+r.OrgID+"/"+r.GrantID)
			}
		}
		wantSteps := "access.request/nat-digital/,access.approve/nat-digital/,access.approve/nat-digital/,access.grant/nat-digital/" + req.ID +
			",access.expire/nat-digital/" + req.ID
		if strings.Join(steps, ",") != wantSteps {
			t.Fatalf("audit steps\n got %v\nwant %s", steps, wantSteps)
		}
	})
}

func TestRevokeAndDeny(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		req := w.file(t)
		if _, err := w.bg.Approve(ctx, w.second, req.ID, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := w.bg.Approve(ctx, w.tenantAdmin, req.ID, ""); err != nil {
			t.Fatal(err)
		}
		_, err := w.bg.Revoke(ctx, w.foreignAdmin, req.ID, "")
		kindIs(t, err, fault.NotFound, "another tenant revokes")
		got, err := w.bg.Revoke(ctx, w.tenantAdmin, req.ID, "no longer needed")
		if err != nil || got.State != breakglass.Revoked {
			t.Fatalf("tenant revokes: %+v %v", got, err)
		}
		if g, _ := w.bg.ActiveGrants(ctx, w.requester.PersonID); len(g) != 0 {
			t.Fatalf("revoked grant still active: %v", g)
		}

		denied := w.file(t)
		got, err = w.bg.Deny(ctx, w.tenantAdmin, denied.ID, "not today")
		if err != nil || got.State != breakglass.Denied {
			t.Fatalf("deny: %+v %v", got, err)
		}
		_, err = w.bg.Approve(ctx, w.second, denied.ID, "")
		kindIs(t, err, fault.Conflict, "approving a denied request")

		withdrawn := w.file(t)
		got, err = w.bg.Revoke(ctx, w.requester, withdrawn.ID, "")
		if err != nil || got.State != breakglass.Withdrew {
			t.Fatalf("requester withdraws: %+v %v", got, err)
		}
	})
}

func TestFileValidation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		tests := []struct {
			name   string
			p      authz.Principal
			org    string
			reason string
			d      time.Duration
			want   fault.Kind
		}{
			{"a tenant admin cannot file", w.tenantAdmin, "nat-digital", "a long enough reason", time.Hour, fault.Forbidden},
			{"too short a reason", w.requester, "nat-digital", "because", time.Hour, fault.Invalid},
			{"longer than the maximum", w.requester, "nat-digital", "a long enough reason", 9 * time.Hour, fault.Invalid},
			{"too short a duration", w.requester, "nat-digital", "a long enough reason", time.Minute, fault.Invalid},
			{"unknown organisation", w.requester, "nowhere", "a long enough reason", time.Hour, fault.Invalid},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := w.bg.File(ctx, tt.p, tt.org, tt.reason, tt.d)
				kindIs(t, err, tt.want, tt.name)
			})
		}
		w.file(t)
		_, err := w.bg.File(ctx, w.requester, "nat-digital", "another long enough reason", time.Hour)
		kindIs(t, err, fault.Conflict, "a second pending request for the same scope")
	})
}

// Two operators racing to give the centre's approval: exactly one wins.
func TestConcurrentApprovals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		req := w.file(t)
		third := w.second
		var wg sync.WaitGroup
		results := make(chan error, 2)
		for _, p := range []authz.Principal{w.second, third} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := w.bg.Approve(ctx, p, req.ID, "")
				results <- err
			}()
		}
		wg.Wait()
		close(results)
		ok := 0
		for err := range results {
			if err == nil {
				ok++
			}
		}
		if ok != 1 {
			t.Fatalf("%d approvals of the same half succeeded, want 1", ok)
		}
	})
}

func integrated(t *testing.T, db *store.DB) []audit.Record {
	t.Helper()
	ctx := context.Background()
	key, _, err := audit.LoadOrCreateKey(filepath.Join(t.TempDir(), "audit.key"), "test.invalid/audit")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := audit.New(db, key.Signer, nil).Integrate(ctx); err != nil {
		t.Fatal(err)
	}
	recs, err := audit.Entries(ctx, db, audit.Filter{AllOrgs: true, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}
