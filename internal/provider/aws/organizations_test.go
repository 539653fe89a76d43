package aws_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/hatoba-cloud/hatoba/internal/provider"
	awsdriver "github.com/hatoba-cloud/hatoba/internal/provider/aws"
	"github.com/hatoba-cloud/hatoba/internal/simcloud"
)

type simEnv struct {
	sim *simcloud.Server
	url string
}

// driver connects a driver configured by dcfg to the simulated cloud.
func (e simEnv) driver(t *testing.T, dcfg awsdriver.Config) *awsdriver.Driver {
	t.Helper()
	dcfg.Name, dcfg.Endpoint, dcfg.AccessKeyID, dcfg.SecretAccessKey = "sim", e.url, "AKIDTEST", "test-secret"
	if dcfg.Region == "" {
		dcfg.Region = "ap-northeast-1"
	}
	if dcfg.RetryBase == 0 {
		dcfg.RetryBase = 10 * time.Millisecond
	}
	d, err := awsdriver.New(context.Background(), dcfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// simWith is newSim with a driver configuration of the test's own.
func simWith(t *testing.T, cfg simcloud.Config, dcfg awsdriver.Config) (*simcloud.Server, *awsdriver.Driver) {
	e := openSim(t, cfg)
	return e.sim, e.driver(t, dcfg)
}

func openSim(t *testing.T, cfg simcloud.Config) simEnv {
	t.Helper()
	cfg.AccessKeyID, cfg.SecretAccessKey = "AKIDTEST", "test-secret"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	sim, err := simcloud.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(func() { srv.Close(); _ = sim.Close() })
	return simEnv{sim: sim, url: srv.URL}
}

// untilDone runs f again after transient errors, up to 50 times, and
// returns the codes of the errors it met.
func untilDone(t *testing.T, f func() error) []string {
	t.Helper()
	var codes []string
	for range 50 {
		err := f()
		if err == nil {
			return codes
		}
		var pe *provider.Error
		if !errors.As(err, &pe) || pe.Class != provider.Transient {
			t.Fatalf("not transient: %v", err)
		}
		codes = append(codes, pe.Code)
	}
	t.Fatalf("still failing after 50 tries: %v", codes)
	return nil
}

// newAccount creates an account and waits until it is active, repeating
// the creation after transient errors.
func newAccount(t *testing.T, d *awsdriver.Driver, name string) string {
	t.Helper()
	var reqID string
	untilDone(t, func() (err error) {
		reqID, err = d.CreateAccount(context.Background(), provider.AccountSpec{Name: name, Email: name + "@sim.hatoba.invalid"})
		return err
	})
	st := waitCreated(t, d, reqID)
	if st.State != provider.CreateSucceeded {
		t.Fatalf("%s: %+v", name, st)
	}
	return st.AccountID
}

func wantError(t *testing.T, err error, class provider.Class, code string) *provider.Error {
	t.Helper()
	var pe *provider.Error
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want a *provider.Error", err)
	}
	if pe.Class != class || pe.Code != code {
		t.Fatalf("class %s code %q, want %s %q (%v)", pe.Class, pe.Code, class, code, err)
	}
	return pe
}

// TestOrganizationsBusyIsTransient: FinalizingOrganizationException and
// PolicyChangesInProgressException say "try again", and trying again works.
func TestOrganizationsBusyIsTransient(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sim, d := simWith(t, simcloud.Config{BusyRate: 0.5, Seed: 3}, awsdriver.Config{})
	acct := newAccount(t, d, "busy")
	codes := untilDone(t, func() error {
		return d.AttachPolicies(ctx, acct, []provider.Policy{{Name: "base", Description: "d", Document: policyDoc}})
	})
	if st := sim.Stats(); st.BusyInjected == 0 {
		t.Fatalf("nothing injected: %+v", st)
	}
	for _, c := range codes {
		if c != "PolicyChangesInProgressException" {
			t.Fatalf("attaching met %v", codes)
		}
	}
	_, err := d.CreateAccount(ctx, provider.AccountSpec{Name: "x", Email: "x@sim.hatoba.invalid"})
	for err == nil {
		_, err = d.CreateAccount(ctx, provider.AccountSpec{Name: "x", Email: fmt.Sprintf("x%d@sim.hatoba.invalid", time.Now().UnixNano())})
	}
	wantError(t, err, provider.Transient, "FinalizingOrganizationException")
}

// TestUnknownIdentityStoreIsAnError: a removal from an identity store that
// does not exist is not "the person is not a member" — it must not be
// reported done while the person keeps their access in the real store.
func TestUnknownIdentityStoreIsAnError(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := openSim(t, simcloud.Config{})
	d := e.driver(t, awsdriver.Config{})
	if err := d.AddGroupMember(ctx, "env1-admins", provider.Person{ID: "p-taro", DisplayName: "山田 太郎"}); err != nil {
		t.Fatal(err)
	}
	// The same cloud, but the driver configured with another store.
	other := e.driver(t, awsdriver.Config{InstanceARN: "arn:aws:sso:::instance/ssoins-0000000000000000", IdentityStoreID: "d-0000000000"})
	err := other.RemoveGroupMember(ctx, "env1-admins", "p-taro")
	pe := wantError(t, err, provider.Permanent, "ResourceNotFoundException")
	if !strings.Contains(pe.Error(), "identity store") {
		t.Fatalf("the error should name the store: %v", err)
	}
	if got, _ := e.sim.GroupMembers(ctx, "env1-admins"); !slices.Equal(got, []string{"p-taro"}) {
		t.Fatalf("members = %v", got)
	}
}

// TestCloseAccountStates: a closed account is PENDING_CLOSURE, then
// SUSPENDED; closing again meanwhile (AWS: ConflictException) and after
// is done, not an error.
func TestCloseAccountStates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sim, d := simWith(t, simcloud.Config{ClosureLatency: 2 * time.Second}, awsdriver.Config{})
	acct := newAccount(t, d, "closing")
	for round := range 2 {
		if err := d.CloseAccount(ctx, acct); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if st, _ := sim.AccountStatus(ctx, acct); st != "PENDING_CLOSURE" {
			t.Fatalf("round %d: %s, want PENDING_CLOSURE", round, st)
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for st, _ := sim.AccountStatus(ctx, acct); st != "SUSPENDED"; st, _ = sim.AccountStatus(ctx, acct) {
		if time.Now().After(deadline) {
			t.Fatalf("still %s", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := d.CloseAccount(ctx, acct); err != nil {
		t.Fatalf("closing a suspended account: %v", err)
	}
}

// TestCloseAccountQuota: beyond the rolling-30-day closure quota the error
// is of its own class, with what it means.
func TestCloseAccountQuota(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, d := simWith(t, simcloud.Config{ClosureQuota: 1}, awsdriver.Config{})
	first, second := newAccount(t, d, "one"), newAccount(t, d, "two")
	if err := d.CloseAccount(ctx, first); err != nil {
		t.Fatal(err)
	}
	pe := wantError(t, d.CloseAccount(ctx, second), provider.Quota, "ConstraintViolationException:CLOSE_ACCOUNT_QUOTA_EXCEEDED")
	if !strings.Contains(pe.Error(), "30 days") {
		t.Fatalf("the error should say what the quota is: %v", pe)
	}
}

// TestEmptyPages: AWS may answer any List call with an empty page and a
// NextToken; every read pages on, ListRoots, ListParents and ListInstances
// included.
func TestEmptyPages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sim, d := simWith(t, simcloud.Config{EmptyPageRate: 0.6, Seed: 5}, awsdriver.Config{})
	spec := provider.AccountSpec{Name: "paged", Email: "paged@sim.hatoba.invalid"}
	acct := newAccount(t, d, "paged")
	found, err := d.FindAccount(ctx, provider.AccountSpec{Name: "paged", Email: spec.Email})
	if err != nil || found.AccountID != acct {
		t.Fatalf("FindAccount = %+v, %v", found, err)
	}
	unit, err := d.EnsureUnit(ctx, []string{"local", "13-tokyo"})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.MoveAccount(ctx, acct, unit); err != nil {
		t.Fatal(err)
	}
	if err := d.AttachPolicies(ctx, acct, []provider.Policy{{Name: "base", Description: "d", Document: policyDoc}}); err != nil {
		t.Fatal(err)
	}
	if err := d.AssignAccess(ctx, acct, provider.Access{AdminGroup: "g-admins", MemberGroup: "g-members"}); err != nil {
		t.Fatal(err)
	}
	if st := sim.Stats(); st.EmptyPagesInjected < 5 {
		t.Fatalf("too few empty pages to mean anything: %+v", st)
	}
}

// TestRegions: Identity Center lives in its home region, which may differ
// from the connection's; the simulated cloud refuses a request signed for
// another region, as AWS does, and the driver signs Organizations and the
// Account API for us-east-1 whatever its region.
func TestRegions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := openSim(t, simcloud.Config{Region: "ap-northeast-1", IdentityCenterRegion: "ap-northeast-3"})
	wrong := e.driver(t, awsdriver.Config{Region: "ap-northeast-1"})
	err := wrong.AssignAccess(ctx, "123456789012", provider.Access{AdminGroup: "a", MemberGroup: "m"})
	wantError(t, err, provider.Permanent, "InvalidSignatureException")

	d := e.driver(t, awsdriver.Config{Region: "ap-northeast-1", IdentityCenterRegion: "ap-northeast-3"})
	acct := newAccount(t, d, "regional")
	if err := d.AssignAccess(ctx, acct, provider.Access{AdminGroup: "a", MemberGroup: "m"}); err != nil {
		t.Fatal(err)
	}
	if err := d.SetBillingContact(ctx, acct, provider.Contact{Name: "n", Title: "Billing", Email: "a@b.example", Phone: "+81-3-0000-0000"}); err != nil {
		t.Fatal(err)
	}
	for region, want := range map[string]string{"ap-northeast-1": "us-east-1", "cn-north-1": "cn-northwest-1", "us-gov-east-1": "us-gov-west-1"} {
		if got := awsdriver.GlobalRegion(region); got != want {
			t.Errorf("GlobalRegion(%s) = %s, want %s", region, got, want)
		}
	}
}

// TestPolicySlots: FullAWSAccess holds one of an account's five SCP slots;
// a set that does not fit is refused before anything is attached, and an
// account's last SCP is replaced, never detached first.
func TestPolicySlots(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sim, d := simWith(t, simcloud.Config{}, awsdriver.Config{})
	acct := newAccount(t, d, "slots")
	if got, _ := sim.AttachedPolicies(ctx, acct); !slices.Equal(got, []string{"FullAWSAccess"}) {
		t.Fatalf("a new account holds %v, want FullAWSAccess", got)
	}
	var five []provider.Policy
	for i := range 5 {
		five = append(five, provider.Policy{Name: fmt.Sprintf("hatoba-p%d", i), Description: "d", Document: policyDoc})
	}
	wantError(t, d.AttachPolicies(ctx, acct, five), provider.Permanent, "ConstraintViolationException:MAX_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED")
	if got, _ := sim.AttachedPolicies(ctx, acct); !slices.Equal(got, []string{"FullAWSAccess"}) {
		t.Fatalf("a refused set attached %v", got)
	}
	if err := d.AttachPolicies(ctx, acct, five[:4]); err != nil {
		t.Fatalf("four fit beside FullAWSAccess: %v", err)
	}
	// An operator removed FullAWSAccess: hatoba's one policy is then the
	// last, and replacing it attaches the new one first.
	if err := d.SetPolicies(ctx, acct, "hatoba-", five[:1]); err != nil {
		t.Fatal(err)
	}
	if err := sim.DetachForTest(ctx, "FullAWSAccess", acct); err != nil {
		t.Fatal(err)
	}
	if err := d.SetPolicies(ctx, acct, "hatoba-", five[4:]); err != nil {
		t.Fatalf("replacing the last SCP: %v", err)
	}
	if got, _ := sim.AttachedPolicies(ctx, acct); !slices.Equal(got, []string{"hatoba-p4"}) {
		t.Fatalf("after replacing: %v", got)
	}
}

// TestAccountAPI: without trusted access every billing-contact call is
// AccessDeniedException, and the error says what to enable; the Account
// API's e-mail pattern is stricter than Organizations'; its throttling is
// HTTP 429.
func TestAccountAPI(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	contact := provider.Contact{Name: "会計課", Title: "Billing", Email: "kaikei@city.example.jp", Phone: "+81-3-1234-5678"}

	_, d := simWith(t, simcloud.Config{AccountAPIDisabled: true}, awsdriver.Config{})
	acct := newAccount(t, d, "noaccess")
	pe := wantError(t, d.SetBillingContact(ctx, acct, contact), provider.Permanent, "AccessDeniedException")
	if !strings.Contains(pe.Error(), "enable-aws-service-access --service-principal account.amazonaws.com") {
		t.Fatalf("the error should say what to enable: %v", pe)
	}

	_, d = simWith(t, simcloud.Config{}, awsdriver.Config{})
	acct = newAccount(t, d, "contact")
	bad := contact
	bad.Email = "会計@city.example.jp" // Organizations would accept it
	wantError(t, d.SetBillingContact(ctx, acct, bad), provider.Permanent, "ValidationException")
	if err := d.SetBillingContact(ctx, acct, contact); err != nil {
		t.Fatal(err)
	}

	_, d = simWith(t, simcloud.Config{RatePerSecond: 2}, awsdriver.Config{})
	var err error
	for range 10 {
		if err = d.SetBillingContact(ctx, "123456789012", contact); provider.ClassOf(err) == provider.Throttling {
			break
		}
	}
	wantError(t, err, provider.Throttling, "TooManyRequestsException")
	var resp *smithyhttp.ResponseError
	if !errors.As(err, &resp) || resp.HTTPStatusCode() != http.StatusTooManyRequests {
		t.Fatalf("throttled with %v, want HTTP 429", err)
	}
}

// TestQuotasAndShapes: AWS's account quota and tag limit, in AWS's error
// shapes.
func TestQuotasAndShapes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, d := simWith(t, simcloud.Config{MaxAccounts: 2}, awsdriver.Config{})
	acct := newAccount(t, d, "first")
	_, err := d.CreateAccount(ctx, provider.AccountSpec{Name: "second", Email: "second@sim.hatoba.invalid"})
	pe := wantError(t, err, provider.Permanent, "ConstraintViolationException:ACCOUNT_NUMBER_LIMIT_EXCEEDED")
	if !strings.Contains(pe.Error(), "Service Quotas") {
		t.Fatalf("the error should say how to raise the quota: %v", pe)
	}
	tags := map[string]string{}
	for i := range 51 {
		tags[fmt.Sprintf("k%02d", i)] = "v"
	}
	wantError(t, d.TagAccount(ctx, acct, tags), provider.Permanent, "ConstraintViolationException:MAX_TAG_LIMIT_EXCEEDED")
}

// TestTagAgainWithinTheLimit: tagging again with the same keys replaces
// their values; the 50-tag limit is on what the account ends up with.
func TestTagAgainWithinTheLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, d := simWith(t, simcloud.Config{}, awsdriver.Config{})
	acct := newAccount(t, d, "retag")
	tags := map[string]string{}
	for i := range 40 {
		tags[fmt.Sprintf("k%02d", i)] = "v"
	}
	for round := range 2 {
		if err := d.TagAccount(ctx, acct, tags); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
}
