package identity_test

import (
	"context"
	"crypto/sha256"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
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
func cert(serial string) identity.Certificate {
	return identity.Certificate{IssuerDN: "CN=Test CA", Serial: serial, SPKISHA256: sha256.Sum256([]byte("key-" + serial)),
		NotAfter: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
}

type fixture struct {
	db  *store.DB
	svc *identity.Service
	clk *clock
	log *audit.Log
}

func newFixture(t *testing.T, db *store.DB) *fixture {
	t.Helper()
	ctx := context.Background()
	orgs := org.New(db, time.Now)
	if _, err := orgs.Create(ctx, audit.Acting{Actor: "system"}, org.Organization{ID: "nat-digital", Kind: org.KindNational, NameJa: "デジタル庁"}); err != nil {
		t.Fatal(err)
	}
	f := &fixture{db: db, clk: &clock{t: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)}}
	f.svc = identity.New(db, identity.Options{SessionTTL: 8 * time.Hour, TokenTTL: 15 * time.Minute, InvitationTTL: 72 * time.Hour}, f.clk.now)
	key, _, err := audit.LoadOrCreateKey(filepath.Join(t.TempDir(), "audit.key"), "test.invalid/audit")
	if err != nil {
		t.Fatal(err)
	}
	f.log = audit.New(db, key.Signer, nil)
	return f
}

// actions are the audit log's entries so far, in order.
func (f *fixture) actions(t *testing.T) []string {
	t.Helper()
	ctx := context.Background()
	if _, err := f.log.Integrate(ctx); err != nil {
		t.Fatal(err)
	}
	recs, err := audit.Entries(ctx, f.db, audit.Filter{AllOrgs: true, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		if !strings.HasPrefix(r.Action, "org.") { // the fixture's organisation
			out = append(out, r.Action)
		}
	}
	return out
}

func TestInvitationBindsCertificateAndSignsIn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		p, token, err := f.svc.Bootstrap(ctx, identity.Invitation{Role: authz.CentralOperator, DisplayName: "山田 太郎"})
		if err != nil {
			t.Fatal(err)
		}
		if p.State != identity.Invited || !strings.HasPrefix(token, "hbi_") {
			t.Fatalf("person %+v token %q", p, token)
		}
		if _, _, _, err := f.svc.SignIn(ctx, cert("01"), identity.ConsoleSession, "mtls"); fault.KindOf(err) != fault.Forbidden {
			t.Fatalf("sign-in before acceptance: %v, want forbidden", err)
		}
		if got, err := f.svc.InvitationFor(ctx, token); err != nil || got.ID != p.ID {
			t.Fatalf("invitation for token: %+v %v", got, err)
		}
		if _, err := f.svc.Accept(ctx, token, cert("01")); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Accept(ctx, token, cert("02")); fault.KindOf(err) != fault.Conflict {
			t.Fatalf("second acceptance: %v, want conflict", err)
		}
		_, secret, sess, err := f.svc.SignIn(ctx, cert("01"), identity.ConsoleSession, "mtls")
		if err != nil {
			t.Fatal(err)
		}
		if sess.ExpiresAt.Sub(sess.CreatedAt) != 8*time.Hour {
			t.Fatalf("session lifetime %s", sess.ExpiresAt.Sub(sess.CreatedAt))
		}
		pr, _, err := f.svc.Authenticate(ctx, secret)
		if err != nil {
			t.Fatal(err)
		}
		if pr.PersonID != p.ID || pr.Role != authz.CentralOperator || pr.OrgID != "" {
			t.Fatalf("principal %+v", pr)
		}
		// The database keeps only the hash.
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sessions WHERE id_hash = $1`, []byte(secret)).Scan(&n); err != nil || n != 0 {
			t.Fatalf("secret stored in clear: %d %v", n, err)
		}
		if err := f.svc.SignOut(ctx, secret); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.svc.Authenticate(ctx, secret); fault.KindOf(err) != fault.Unauthenticated {
			t.Fatalf("after sign-out: %v", err)
		}
		want := []string{"person.invite", "person.certificate.bind", "session.login", "session.logout"}
		if got := f.actions(t); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("audit events %v, want %v", got, want)
		}
	})
}

func TestSignInRefusals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		_, token, err := f.svc.Bootstrap(ctx, identity.Invitation{Role: authz.TenantAdmin, OrgID: "nat-digital", DisplayName: "A"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Accept(ctx, token, cert("10")); err != nil {
			t.Fatal(err)
		}
		// Another person cannot bind the same card.
		_, token2, err := f.svc.Bootstrap(ctx, identity.Invitation{Role: authz.TenantMember, OrgID: "nat-digital", DisplayName: "B"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Accept(ctx, token2, cert("10")); fault.KindOf(err) != fault.Conflict {
			t.Fatalf("same card twice: %v", err)
		}
		// Same issuer and serial, other key: a forgery.
		forged := cert("10")
		forged.SPKISHA256[0] ^= 1
		if _, _, _, err := f.svc.SignIn(ctx, forged, identity.APIToken, "challenge"); fault.KindOf(err) != fault.Forbidden {
			t.Fatalf("forged key: %v", err)
		}
		// Tokens expire after TokenTTL.
		_, tok, _, err := f.svc.SignIn(ctx, cert("10"), identity.APIToken, "challenge")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(tok, "hbt_") {
			t.Fatalf("token %q", tok)
		}
		f.clk.add(14 * time.Minute)
		if _, _, err := f.svc.Authenticate(ctx, tok); err != nil {
			t.Fatalf("token before expiry: %v", err)
		}
		f.clk.add(time.Minute)
		if _, _, err := f.svc.Authenticate(ctx, tok); fault.KindOf(err) != fault.Unauthenticated {
			t.Fatalf("expired token accepted: %v", err)
		}
		// Invitations expire too.
		f.clk.add(72 * time.Hour)
		if _, err := f.svc.Accept(ctx, token2, cert("11")); fault.KindOf(err) != fault.Conflict {
			t.Fatalf("expired invitation: %v", err)
		}
		if _, err := f.svc.Accept(ctx, "hbi_nonsense", cert("11")); fault.KindOf(err) != fault.NotFound {
			t.Fatalf("unknown invitation: %v", err)
		}
	})
}

func TestInvitationRules(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		operator := authz.Principal{PersonID: "op", Role: authz.CentralOperator}
		admin := authz.Principal{PersonID: "ad", Role: authz.TenantAdmin, OrgID: "nat-digital"}
		tests := []struct {
			name string
			by   authz.Principal
			inv  identity.Invitation
			want fault.Kind
		}{
			{"operator invites a colleague", operator, identity.Invitation{Role: authz.CentralAuditor, DisplayName: "X"}, ""},
			{"operator invites a tenant's first admin", operator, identity.Invitation{Role: authz.TenantAdmin, OrgID: "nat-digital", DisplayName: "X"}, ""},
			{"operator may not invite a tenant's member", operator, identity.Invitation{Role: authz.TenantMember, OrgID: "nat-digital", DisplayName: "X"}, fault.Forbidden},
			{"admin invites a member", admin, identity.Invitation{Role: authz.TenantMember, OrgID: "nat-digital", DisplayName: "X"}, ""},
			{"admin may not invite central staff", admin, identity.Invitation{Role: authz.CentralOperator, DisplayName: "X"}, fault.Forbidden},
			{"central role with an organisation", operator, identity.Invitation{Role: authz.CentralAuditor, OrgID: "nat-digital", DisplayName: "X"}, fault.Invalid},
			{"tenant role without one", admin, identity.Invitation{Role: authz.TenantMember, DisplayName: "X"}, fault.Invalid},
			{"unknown role", admin, identity.Invitation{Role: "root", OrgID: "nat-digital", DisplayName: "X"}, fault.Invalid},
			{"unknown organisation", admin, identity.Invitation{Role: authz.TenantMember, OrgID: "nowhere", DisplayName: "X"}, fault.Invalid},
			{"empty name", admin, identity.Invitation{Role: authz.TenantMember, OrgID: "nat-digital", DisplayName: " "}, fault.Invalid},
			{"bad e-mail", admin, identity.Invitation{Role: authz.TenantMember, OrgID: "nat-digital", DisplayName: "X", Email: "x@"}, fault.Invalid},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, _, err := f.svc.Invite(ctx, tt.by, "", tt.inv)
				if tt.want == "" && err != nil {
					t.Fatalf("refused: %v", err)
				}
				if tt.want != "" && fault.KindOf(err) != tt.want {
					t.Fatalf("err = %v, want %s", err, tt.want)
				}
			})
		}
	})
}

func TestChallengeIsSingleUse(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		c, err := f.svc.NewChallenge(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := f.svc.ConsumeChallenge(ctx, c.ID); err == nil {
					mu.Lock()
					wins++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("challenge consumed %d times, want once", wins)
		}
		c2, err := f.svc.NewChallenge(ctx)
		if err != nil {
			t.Fatal(err)
		}
		f.clk.add(3 * time.Minute)
		if _, err := f.svc.ConsumeChallenge(ctx, c2.ID); fault.KindOf(err) != fault.Invalid {
			t.Fatalf("expired challenge: %v", err)
		}
	})
}

func TestPurgeExpired(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		_, token, err := f.svc.Bootstrap(ctx, identity.Invitation{Role: authz.CentralAuditor, DisplayName: "A"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Accept(ctx, token, cert("20")); err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := f.svc.SignIn(ctx, cert("20"), identity.APIToken, "test"); err != nil {
			t.Fatal(err)
		}
		_, console, _, err := f.svc.SignIn(ctx, cert("20"), identity.ConsoleSession, "test")
		if err != nil {
			t.Fatal(err)
		}
		f.clk.add(time.Hour) // the token (15m) is past, the console session (8h) is not
		if n, err := f.svc.PurgeExpired(ctx); err != nil || n != 1 {
			t.Fatalf("purged %d (%v), want the one token", n, err)
		}
		if _, _, err := f.svc.Authenticate(ctx, console); err != nil {
			t.Fatalf("the live session was purged: %v", err)
		}
	})
}

func TestDisable(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		admin := authz.Principal{PersonID: "p-admin", Role: authz.TenantAdmin, OrgID: "nat-digital"}
		member, token, err := f.svc.Invite(ctx, admin, "", identity.Invitation{Role: authz.TenantMember, OrgID: "nat-digital", DisplayName: "M"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Accept(ctx, token, cert("30")); err != nil {
			t.Fatal(err)
		}
		_, secret, _, err := f.svc.SignIn(ctx, cert("30"), identity.APIToken, "test")
		if err != nil {
			t.Fatal(err)
		}
		p, err := f.svc.SetDisabled(ctx, admin, "", member.ID, true)
		if err != nil || p.State != identity.Disabled {
			t.Fatalf("disable: %+v %v", p, err)
		}
		if _, _, err := f.svc.Authenticate(ctx, secret); fault.KindOf(err) != fault.Unauthenticated {
			t.Fatalf("a disabled person's token still works: %v", err)
		}
		if _, _, _, err := f.svc.SignIn(ctx, cert("30"), identity.APIToken, "test"); fault.KindOf(err) != fault.Forbidden {
			t.Fatalf("a disabled person signed in: %v", err)
		}
		if p, err := f.svc.SetDisabled(ctx, admin, "", member.ID, false); err != nil || p.State != identity.Active {
			t.Fatalf("enable: %+v %v", p, err)
		}
		self := authz.Principal{PersonID: member.ID, Role: authz.TenantAdmin, OrgID: "nat-digital"}
		if _, err := f.svc.SetDisabled(ctx, self, "", member.ID, true); fault.KindOf(err) != fault.Forbidden {
			t.Fatalf("disabling oneself: %v", err)
		}
		operator := authz.Principal{PersonID: "p-op", Role: authz.CentralOperator}
		if _, err := f.svc.SetDisabled(ctx, operator, "", member.ID, true); fault.KindOf(err) != fault.Forbidden {
			t.Fatalf("an operator disabling a tenant's member: %v", err)
		}
		got := strings.Join(f.actions(t), ",")
		if !strings.Contains(got, "person.disable,person.enable") {
			t.Fatalf("audit %s lacks the disable and enable", got)
		}
	})
}

func TestKeyOwner(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		operator := authz.Principal{PersonID: "p-op", Role: authz.CentralOperator}
		invite := func(role authz.Role, serial string) (identity.Person, string) {
			t.Helper()
			p, token, err := f.svc.Invite(ctx, operator, "", identity.Invitation{Role: role, OrgID: "nat-digital", DisplayName: serial})
			if role == authz.TenantMember {
				admin := authz.Principal{PersonID: "p-admin", Role: authz.TenantAdmin, OrgID: "nat-digital"}
				p, token, err = f.svc.Invite(ctx, admin, "", identity.Invitation{Role: role, OrgID: "nat-digital", DisplayName: serial})
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.svc.Accept(ctx, token, cert(serial)); err != nil {
				t.Fatal(err)
			}
			_, secret, _, err := f.svc.SignIn(ctx, cert(serial), identity.APIToken, "test")
			if err != nil {
				t.Fatal(err)
			}
			return p, secret
		}
		first, firstSecret := invite(authz.TenantAdmin, "40")
		second, secondSecret := invite(authz.TenantAdmin, "41")
		member, _ := invite(authz.TenantMember, "42")
		as := func(p identity.Person) authz.Principal {
			return authz.Principal{PersonID: p.ID, Role: p.Role, OrgID: p.OrgID}
		}

		// The first key owner of an organisation may designate itself.
		if p, err := f.svc.SetKeyOwner(ctx, as(first), first.ID, true); err != nil || !p.KeyOwner {
			t.Fatalf("first owner: %+v %v", p, err)
		}
		if p, _, err := f.svc.Authenticate(ctx, firstSecret); err != nil || !p.KeyOwner {
			t.Fatalf("the key owner's principal: %+v %v", p, err)
		}
		if p, _, err := f.svc.Authenticate(ctx, secondSecret); err != nil || p.KeyOwner {
			t.Fatalf("another administrator's principal: %+v %v", p, err)
		}
		tests := []struct {
			name   string
			by     authz.Principal
			target string
			owner  bool
			want   fault.Kind
		}{
			{"once there is an owner nobody designates themselves", as(second), second.ID, true, fault.Forbidden},
			{"a member cannot be key owner", as(first), member.ID, true, fault.Invalid},
			{"an owner designates another administrator", as(first), second.ID, true, ""},
			{"nobody takes their own designation away", as(first), first.ID, false, fault.Forbidden},
			{"another administrator can", as(second), first.ID, false, ""},
			{"no such person", as(second), "p-nobody", true, fault.NotFound},
		}
		for _, tt := range tests {
			p, err := f.svc.SetKeyOwner(ctx, tt.by, tt.target, tt.owner)
			if tt.want == "" {
				if err != nil || p.KeyOwner != tt.owner {
					t.Fatalf("%s: %+v %v", tt.name, p, err)
				}
				continue
			}
			if fault.KindOf(err) != tt.want {
				t.Fatalf("%s: err = %v, want %s", tt.name, err, tt.want)
			}
		}
		if p, _, err := f.svc.Authenticate(ctx, firstSecret); err != nil || p.KeyOwner {
			t.Fatalf("a revoked key owner's session still carries the designation: %+v %v", p, err)
		}
		got := strings.Join(f.actions(t), ",")
		if !strings.Contains(got, "person.key_owner.grant,person.key_owner.grant,person.key_owner.revoke") {
			t.Fatalf("audit %s lacks the designations", got)
		}
	})
}

// BootstrapBound (hatoba person invite --cert) is one transaction: a
// certificate already bound to another person refuses the whole addition
// and leaves no person and no pending invitation behind.
func TestBootstrapBoundIsAllOrNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		p, err := f.svc.BootstrapBound(ctx, identity.Invitation{Role: authz.CentralOperator, DisplayName: "運用 太郎"}, cert("20"))
		if err != nil {
			t.Fatal(err)
		}
		if p.State != identity.Active {
			t.Fatalf("bound at once: state %s, want active", p.State)
		}
		count := func(query string) int {
			t.Helper()
			var n int
			if err := db.QueryRowContext(ctx, query).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		people, invitations := count(`SELECT COUNT(*) FROM people`), count(`SELECT COUNT(*) FROM invitations`)
		_, err = f.svc.BootstrapBound(ctx, identity.Invitation{Role: authz.CentralOperator, DisplayName: "運用 次郎"}, cert("20"))
		if fault.KindOf(err) != fault.Conflict {
			t.Fatalf("a certificate bound twice: %v, want a conflict", err)
		}
		if got := count(`SELECT COUNT(*) FROM people`); got != people {
			t.Errorf("people: %d after the refusal, %d before", got, people)
		}
		if got := count(`SELECT COUNT(*) FROM invitations WHERE accepted_at IS NULL`); got != 0 {
			t.Errorf("%d pending invitations after the refusal", got)
		}
		if got := count(`SELECT COUNT(*) FROM invitations`); got != invitations {
			t.Errorf("invitations: %d after the refusal, %d before", got, invitations)
		}
		if got := f.actions(t); strings.Join(got, ",") != "person.invite,person.certificate.bind" {
			t.Errorf("audited %v; the refused addition must leave nothing", got)
		}
	})
}
