// Package providertest is the conformance suite every provider driver
// passes (River's habit: one driver test suite, every driver): the same
// tests run against the aws driver on the simulated cloud and the
// openstack driver on a real Keystone.
//
// Each step of vending is run, checked on the cloud itself, run again
// (the workflow repeats a step whenever it cannot tell whether it took
// effect), and run under a crash: the answer of each of the step's
// requests in turn is lost after the cloud acted on it, the step is run
// again, and the cloud must hold exactly what one clean run leaves — no
// second account, group, user or assignment.
package providertest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/provider"
)

// Cloud is one driver kind on a fresh cloud.
type Cloud struct {
	// New returns a driver on a cloud of its own for this test, whose
	// requests go through client (the suite injects lost answers there).
	// Every call of New in one test must reach the same cloud.
	New func(t *testing.T, client *http.Client) (provider.Provider, Inspector)
	// Guardrail returns a preventive policy the driver enforces, named
	// name; variant 0 and 1 differ, so that reconciling from one to the
	// other shows.
	Guardrail func(name string, variant int) provider.Policy
}

// Inspector reads the cloud directly, not through the driver's steps.
type Inspector interface {
	// Accounts counts the accounts that carry this e-mail.
	Accounts(ctx context.Context, email string) (int, error)
	// Unit returns the id of the unit the account is in.
	Unit(ctx context.Context, accountID string) (string, error)
	// Policies lists the names of the preventive policies on the account
	// that start with prefix, sorted.
	Policies(ctx context.Context, accountID, prefix string) ([]string, error)
	// Enforced reports whether the variant of the named guardrail is what
	// the cloud enforces on the account now.
	Enforced(ctx context.Context, accountID, name string, variant int) (bool, error)
	// Groups lists the groups that have a role or permission set on the
	// account, sorted, each once per grant it has.
	Groups(ctx context.Context, accountID string) ([]string, error)
	// Members lists the person ids in a group, sorted.
	Members(ctx context.Context, group string) ([]string, error)
	// Tag returns the value of the account's tag key.
	Tag(ctx context.Context, accountID, key string) (string, error)
	// Closed reports whether the account is closed (suspended, disabled).
	Closed(ctx context.Context, accountID string) (bool, error)
}

// Run runs the suite.
func Run(t *testing.T, c Cloud) {
	t.Run("vend", func(t *testing.T) { t.Parallel(); testVend(t, c) })
	t.Run("crash/create_account", func(t *testing.T) { t.Parallel(); testCrashCreate(t, c) })
	t.Run("units", func(t *testing.T) { t.Parallel(); testUnits(t, c) })
	t.Run("access", func(t *testing.T) { t.Parallel(); testAccess(t, c) })
	t.Run("guardrails", func(t *testing.T) { t.Parallel(); testGuardrails(t, c) })
	t.Run("transfer", func(t *testing.T) { t.Parallel(); testTransfer(t, c) })
	t.Run("close", func(t *testing.T) { t.Parallel(); testClose(t, c) })
	t.Run("crash/steps", func(t *testing.T) { t.Parallel(); testCrashSteps(t, c) })
}

// Prefixes of the policy names the suite uses: the managed ones
// reconciliation may take off, and an organisation's own.
const (
	ManagedPrefix = "conformance-managed-"
	OwnPrefix     = "conformance-own-"
)

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

var serial atomic.Int64

func spec(t *testing.T) provider.AccountSpec {
	n := serial.Add(1)
	id := fmt.Sprintf("env-%d-%d", time.Now().UnixNano()%1e9, n)
	return provider.AccountSpec{Name: id + " conformance", Email: "cloud+" + id + "@conformance.hatoba.invalid"}
}

// vend creates an account and waits until it is active.
func vend(t *testing.T, ctx context.Context, p provider.Provider, s provider.AccountSpec) string {
	t.Helper()
	req, err := p.CreateAccount(ctx, s)
	if err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	return wait(t, ctx, p, req)
}

func wait(t *testing.T, ctx context.Context, p provider.Provider, req string) string {
	t.Helper()
	for {
		st, err := p.CreateAccountStatus(ctx, req)
		if err != nil {
			t.Fatalf("CreateAccountStatus: %v", err)
		}
		switch st.State {
		case provider.CreateSucceeded:
			return st.AccountID
		case provider.CreateFailed:
			t.Fatalf("creation failed: %s", st.FailureReason)
		}
		select {
		case <-ctx.Done():
			t.Fatal("creation did not finish")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// waitOrAdopt waits for a creation as the workflow does after a crash: a
// creation that failed as a duplicate (the first, lost call's account
// exists, or FindAccount looked between the first creation finishing and
// its account being listed) adopts the account FindAccount now finds.
func waitOrAdopt(t *testing.T, ctx context.Context, p provider.Provider, s provider.AccountSpec, req string) string {
	t.Helper()
	for {
		st, err := p.CreateAccountStatus(ctx, req)
		if err != nil {
			t.Fatalf("CreateAccountStatus: %v", err)
		}
		switch {
		case st.State == provider.CreateSucceeded:
			return st.AccountID
		case st.State == provider.CreateFailed && (st.Duplicate || st.FailureReason == "EMAIL_ALREADY_EXISTS"):
			found, err := p.FindAccount(ctx, s)
			must(t, "FindAccount after a duplicate", err)
			if found.AccountID != "" {
				return found.AccountID
			}
			if found.RequestID == "" || found.RequestID == req {
				t.Fatalf("creation failed as a duplicate, and FindAccount finds nothing: %+v", st)
			}
			req = found.RequestID
			continue
		case st.State == provider.CreateFailed:
			t.Fatalf("creation failed: %s", st.FailureReason)
		}
		select {
		case <-ctx.Done():
			t.Fatal("creation did not finish")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func testVend(t *testing.T, c Cloud) {
	ctx := ctxFor(t)
	p, in := c.New(t, nil)
	s := spec(t)
	id := vend(t, ctx, p, s)
	found, err := p.FindAccount(ctx, s)
	must(t, "FindAccount", err)
	if found.AccountID != id {
		t.Fatalf("FindAccount = %+v, want account %s", found, id)
	}
	other, err := p.FindAccount(ctx, spec(t))
	must(t, "FindAccount of another", err)
	if other != (provider.Found{}) {
		t.Fatalf("FindAccount of an account never made = %+v, want nothing", other)
	}
	tags := map[string]string{"hatoba:environment": "env-1", "hatoba:system": "住民記録/本番, 税", "hatoba:classification": "level3"}
	for range 2 {
		must(t, "TagAccount", p.TagAccount(ctx, id, tags))
	}
	for k, want := range tags {
		got, err := in.Tag(ctx, id, k)
		must(t, "Tag", err)
		if got != want {
			t.Errorf("tag %s = %q, want %q", k, got, want)
		}
	}
	must(t, "TagAccount again", p.TagAccount(ctx, id, map[string]string{"hatoba:classification": "level2"}))
	if got, _ := in.Tag(ctx, id, "hatoba:classification"); got != "level2" {
		t.Errorf("retagged classification = %q, want level2", got)
	}
	contact := provider.Contact{Name: "山田 太郎", Title: "Billing", Email: "billing@city.example.jp", Phone: "+81-3-0000-0000"}
	for range 2 {
		must(t, "SetBillingContact", p.SetBillingContact(ctx, id, contact))
	}
	if n, err := in.Accounts(ctx, s.Email); err != nil || n != 1 {
		t.Fatalf("accounts with %s = %d, %v; want 1", s.Email, n, err)
	}
}

// lossyClient loses the answer of the request numbered lose (1-based),
// after the cloud acted on it, and counts requests.
type lossyClient struct {
	mu   sync.Mutex
	n    int
	lose int
	next http.RoundTripper
}

var errLost = errors.New("providertest: answer lost after the cloud acted")

func (l *lossyClient) RoundTrip(r *http.Request) (*http.Response, error) {
	l.mu.Lock()
	l.n++
	drop := l.n == l.lose
	l.mu.Unlock()
	resp, err := l.next.RoundTrip(r)
	if drop && err == nil {
		_ = resp.Body.Close()
		return nil, errLost
	}
	return resp, err
}

func (l *lossyClient) arm(lose int) {
	l.mu.Lock()
	l.n, l.lose = 0, lose
	l.mu.Unlock()
}

func (l *lossyClient) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

func newLossy(t *testing.T, c Cloud) (provider.Provider, Inspector, *lossyClient) {
	l := &lossyClient{next: http.DefaultTransport}
	p, in := c.New(t, &http.Client{Transport: l})
	return p, in, l
}

// testCrashCreate follows the workflow's protocol after a crash around
// CreateAccount: it cannot know whether the call reached the cloud, so it
// looks (FindAccount) and calls again only when nothing is found. Whichever
// request's answer is lost, one account results.
func testCrashCreate(t *testing.T, c Cloud) {
	ctx := ctxFor(t)
	p, in, l := newLossy(t, c)
	for lose := 1; ; lose++ {
		s := spec(t)
		l.arm(lose)
		req, err := p.CreateAccount(ctx, s)
		l.arm(0)
		crashed := err != nil
		if crashed {
			if !errors.Is(err, errLost) {
				t.Fatalf("lose %d: CreateAccount: %v", lose, err)
			}
			found, err := p.FindAccount(ctx, s)
			must(t, "FindAccount", err)
			switch {
			case found.AccountID != "":
				req = ""
			case found.RequestID != "":
				req = found.RequestID
			default:
				req, err = p.CreateAccount(ctx, s)
				must(t, "CreateAccount again", err)
			}
			if found.AccountID != "" {
				if n, err := in.Accounts(ctx, s.Email); err != nil || n != 1 {
					t.Fatalf("lose %d: accounts = %d, %v; want 1", lose, n, err)
				}
				continue
			}
		}
		waitOrAdopt(t, ctx, p, s, req)
		if n, err := in.Accounts(ctx, s.Email); err != nil || n != 1 {
			t.Fatalf("lose %d: accounts with %s = %d, %v; want 1", lose, s.Email, n, err)
		}
		if !crashed {
			return // lose is past the calls CreateAccount makes
		}
	}
}

func testUnits(t *testing.T, c Cloud) {
	ctx := ctxFor(t)
	p, in := c.New(t, nil)
	suffix := fmt.Sprint(serial.Add(1))
	a, err := p.EnsureUnit(ctx, []string{"gov" + suffix, "tokyo", "tax"})
	must(t, "EnsureUnit", err)
	again, err := p.EnsureUnit(ctx, []string{"gov" + suffix, "tokyo", "tax"})
	must(t, "EnsureUnit again", err)
	if a != again {
		t.Fatalf("EnsureUnit twice = %s, %s; want the same unit", a, again)
	}
	// The same name under another parent is another unit.
	b, err := p.EnsureUnit(ctx, []string{"gov" + suffix, "osaka", "tax"})
	must(t, "EnsureUnit osaka", err)
	if b == a {
		t.Fatal("tax under tokyo and tax under osaka are the same unit")
	}
	id := vend(t, ctx, p, spec(t))
	for _, unit := range []string{a, a, b, b, a} {
		must(t, "MoveAccount", p.MoveAccount(ctx, id, unit))
		got, err := in.Unit(ctx, id)
		must(t, "Unit", err)
		if got != unit {
			t.Fatalf("account is in %s, want %s", got, unit)
		}
	}
}

func testAccess(t *testing.T, c Cloud) {
	ctx := ctxFor(t)
	p, in := c.New(t, nil)
	id := vend(t, ctx, p, spec(t))
	n := serial.Add(1)
	access := provider.Access{AdminGroup: fmt.Sprintf("hatoba-conf%d-administrators", n), MemberGroup: fmt.Sprintf("hatoba-conf%d-members", n)}
	must(t, "AssignAccess", p.AssignAccess(ctx, id, access))
	first, err := in.Groups(ctx, id)
	must(t, "Groups", err)
	if !slices.Contains(first, access.AdminGroup) || !slices.Contains(first, access.MemberGroup) {
		t.Fatalf("groups on the account = %v, want both of %+v", first, access)
	}
	must(t, "AssignAccess again", p.AssignAccess(ctx, id, access))
	if again, _ := in.Groups(ctx, id); !slices.Equal(first, again) {
		t.Fatalf("groups after a second AssignAccess = %v, want %v", again, first)
	}
	alice := provider.Person{ID: fmt.Sprintf("p-alice-%d", n), DisplayName: "山田 花子", Email: "hanako@city.example.jp"}
	bob := provider.Person{ID: fmt.Sprintf("p-bob-%d", n), DisplayName: "Bob"}
	for range 2 {
		must(t, "AddGroupMember", p.AddGroupMember(ctx, access.AdminGroup, alice))
		must(t, "AddGroupMember", p.AddGroupMember(ctx, access.MemberGroup, alice))
		must(t, "AddGroupMember", p.AddGroupMember(ctx, access.MemberGroup, bob))
	}
	members := func(g string, want ...string) {
		t.Helper()
		got, err := in.Members(ctx, g)
		must(t, "Members", err)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("members of %s = %v, want %v", g, got, want)
		}
	}
	members(access.AdminGroup, alice.ID)
	members(access.MemberGroup, alice.ID, bob.ID)
	for range 2 {
		must(t, "RemoveGroupMember", p.RemoveGroupMember(ctx, access.MemberGroup, alice.ID))
	}
	members(access.MemberGroup, bob.ID)
	members(access.AdminGroup, alice.ID)
	// Nobody, no group: success, nothing changes.
	must(t, "RemoveGroupMember of a stranger", p.RemoveGroupMember(ctx, access.MemberGroup, "p-nobody"))
	must(t, "RemoveGroupMember from no group", p.RemoveGroupMember(ctx, "hatoba-none-members", bob.ID))
}

func testGuardrails(t *testing.T, c Cloud) {
	ctx := ctxFor(t)
	p, in := c.New(t, nil)
	setter, ok := p.(provider.PolicySetter)
	if !ok {
		t.Skip("the driver cannot reconcile policies")
	}
	id := vend(t, ctx, p, spec(t))
	n := serial.Add(1)
	managedA := c.Guardrail(fmt.Sprintf("%sa%d", ManagedPrefix, n), 0)
	managedB := c.Guardrail(fmt.Sprintf("%sb%d", ManagedPrefix, n), 1)
	own := c.Guardrail(fmt.Sprintf("%sx%d", OwnPrefix, n), 0)
	for range 2 {
		must(t, "AttachPolicies", p.AttachPolicies(ctx, id, []provider.Policy{managedA, own}))
	}
	names := func(want ...string) {
		t.Helper()
		var got []string
		for _, prefix := range []string{ManagedPrefix, OwnPrefix} {
			ns, err := in.Policies(ctx, id, prefix)
			must(t, "Policies", err)
			got = append(got, ns...)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("policies on the account = %v, want %v", got, want)
		}
	}
	enforced := func(name string, variant int, want bool) {
		t.Helper()
		got, err := in.Enforced(ctx, id, name, variant)
		must(t, "Enforced", err)
		if got != want {
			t.Fatalf("guardrail %s variant %d enforced = %v, want %v", name, variant, got, want)
		}
	}
	names(managedA.Name, own.Name)
	enforced(managedA.Name, 0, true)
	// Reconcile: the managed set becomes {B}; the organisation's own stays.
	for range 2 {
		must(t, "SetPolicies", setter.SetPolicies(ctx, id, ManagedPrefix, []provider.Policy{managedB}))
	}
	names(managedB.Name, own.Name)
	enforced(managedB.Name, 1, true)
	enforced(managedA.Name, 0, false)
	must(t, "SetPolicies to none", setter.SetPolicies(ctx, id, ManagedPrefix, nil))
	names(own.Name)
}

// testTransfer moves an environment to another organisation's unit, as a
// transfer does: new unit, new tags, its people kept.
func testTransfer(t *testing.T, c Cloud) {
	ctx := ctxFor(t)
	p, in := c.New(t, nil)
	n := serial.Add(1)
	from, err := p.EnsureUnit(ctx, []string{fmt.Sprintf("gov%d", n), "org-a"})
	must(t, "EnsureUnit", err)
	to, err := p.EnsureUnit(ctx, []string{fmt.Sprintf("gov%d", n), "org-b", "tax"})
	must(t, "EnsureUnit", err)
	id := vend(t, ctx, p, spec(t))
	must(t, "MoveAccount", p.MoveAccount(ctx, id, from))
	must(t, "TagAccount", p.TagAccount(ctx, id, map[string]string{"hatoba:organization": "org-a"}))
	access := provider.Access{AdminGroup: fmt.Sprintf("hatoba-tr%d-administrators", n), MemberGroup: fmt.Sprintf("hatoba-tr%d-members", n)}
	must(t, "AssignAccess", p.AssignAccess(ctx, id, access))
	person := provider.Person{ID: fmt.Sprintf("p-tr-%d", n), DisplayName: "Transfer"}
	must(t, "AddGroupMember", p.AddGroupMember(ctx, access.AdminGroup, person))
	for range 2 {
		must(t, "MoveAccount", p.MoveAccount(ctx, id, to))
		must(t, "TagAccount", p.TagAccount(ctx, id, map[string]string{"hatoba:organization": "org-b"}))
	}
	if u, _ := in.Unit(ctx, id); u != to {
		t.Fatalf("transferred account is in %s, want %s", u, to)
	}
	if o, _ := in.Tag(ctx, id, "hatoba:organization"); o != "org-b" {
		t.Fatalf("organization tag = %q, want org-b", o)
	}
	if m, _ := in.Members(ctx, access.AdminGroup); !slices.Equal(m, []string{person.ID}) {
		t.Fatalf("administrators after the transfer = %v", m)
	}
}

func testClose(t *testing.T, c Cloud) {
	ctx := ctxFor(t)
	p, in := c.New(t, nil)
	id := vend(t, ctx, p, spec(t))
	n := serial.Add(1)
	must(t, "AssignAccess", p.AssignAccess(ctx, id, provider.Access{AdminGroup: fmt.Sprintf("hatoba-cl%d-administrators", n), MemberGroup: fmt.Sprintf("hatoba-cl%d-members", n)}))
	for range 2 {
		must(t, "CloseAccount", p.CloseAccount(ctx, id))
	}
	closed, err := in.Closed(ctx, id)
	must(t, "Closed", err)
	if !closed {
		t.Fatal("the account is not closed")
	}
}

// step is one idempotent step of vending, run on a vended account.
type step struct {
	name string
	run  func(ctx context.Context, p provider.Provider, id string) error
}

// testCrashSteps runs each step with the answer of its k-th request lost
// (k = 1, 2, … until the step makes fewer requests), runs it again, and
// checks the cloud holds what one clean run leaves.
func testCrashSteps(t *testing.T, c Cloud) {
	ctx := ctxFor(t)
	p, in, l := newLossy(t, c)
	n := serial.Add(1)
	path := []string{fmt.Sprintf("gov%d", n), "crash"}
	access := provider.Access{AdminGroup: fmt.Sprintf("hatoba-cr%d-administrators", n), MemberGroup: fmt.Sprintf("hatoba-cr%d-members", n)}
	person := provider.Person{ID: fmt.Sprintf("p-cr-%d", n), DisplayName: "Crash"}
	guard := c.Guardrail(fmt.Sprintf("%scr%d", ManagedPrefix, n), 0)
	steps := []step{
		{"move_to_unit", func(ctx context.Context, p provider.Provider, id string) error {
			u, err := p.EnsureUnit(ctx, path)
			if err != nil {
				return err
			}
			return p.MoveAccount(ctx, id, u)
		}},
		{"attach_policies", func(ctx context.Context, p provider.Provider, id string) error {
			return p.AttachPolicies(ctx, id, []provider.Policy{guard})
		}},
		{"assign_access", func(ctx context.Context, p provider.Provider, id string) error {
			return p.AssignAccess(ctx, id, access)
		}},
		{"add_member", func(ctx context.Context, p provider.Provider, id string) error {
			return p.AddGroupMember(ctx, access.AdminGroup, person)
		}},
		{"tag", func(ctx context.Context, p provider.Provider, id string) error {
			return p.TagAccount(ctx, id, map[string]string{"hatoba:purpose": "production"})
		}},
		{"remove_member", func(ctx context.Context, p provider.Provider, id string) error {
			return p.RemoveGroupMember(ctx, access.AdminGroup, person.ID)
		}},
		{"close", func(ctx context.Context, p provider.Provider, id string) error {
			return p.CloseAccount(ctx, id)
		}},
	}
	// One clean account shows what each step leaves; the two accounts
	// share the groups, whose members must be the same after either.
	l.arm(0)
	clean := vend(t, ctx, p, spec(t))
	type state struct {
		unit, purpose string
		policies      []string
		groups        []string
		members       []string
		closed        bool
	}
	look := func(id string) state {
		t.Helper()
		var s state
		var err error
		l.arm(0)
		s.unit, err = in.Unit(ctx, id)
		must(t, "Unit", err)
		s.purpose, err = in.Tag(ctx, id, "hatoba:purpose")
		must(t, "Tag", err)
		s.policies, err = in.Policies(ctx, id, ManagedPrefix)
		must(t, "Policies", err)
		s.groups, err = in.Groups(ctx, id)
		must(t, "Groups", err)
		s.members, err = in.Members(ctx, access.AdminGroup)
		must(t, "Members", err)
		s.closed, err = in.Closed(ctx, id)
		must(t, "Closed", err)
		return s
	}
	crashed := vend(t, ctx, p, spec(t))
	for _, st := range steps {
		l.arm(0)
		must(t, st.name+" on the clean account", st.run(ctx, p, clean))
		want := look(clean)
		for lose := 1; ; lose++ {
			l.arm(lose)
			err := st.run(ctx, p, crashed)
			made := l.count()
			l.arm(0)
			if err != nil && !errors.Is(err, errLost) && !strings.Contains(err.Error(), errLost.Error()) {
				t.Fatalf("%s, answer %d lost: %v", st.name, lose, err)
			}
			// The workflow runs the step again.
			must(t, st.name+" after a crash", st.run(ctx, p, crashed))
			got := look(crashed)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%s, answer %d lost then run again: the cloud holds %+v, a clean run leaves %+v", st.name, lose, got, want)
			}
			if made < lose {
				break // the step made fewer requests: every one was lost once
			}
		}
	}
}
