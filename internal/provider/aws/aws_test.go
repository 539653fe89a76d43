package aws_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/provider"
	awsdriver "github.com/hatoba-cloud/hatoba/internal/provider/aws"
	"github.com/hatoba-cloud/hatoba/internal/simcloud"
)

const policyDoc = `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iam:CreateUser","Resource":"*"}]}`

func newSim(t *testing.T, cfg simcloud.Config) (*simcloud.Server, *awsdriver.Driver) {
	t.Helper()
	cfg.AccessKeyID, cfg.SecretAccessKey = "AKIDTEST", "test-secret"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	sim, err := simcloud.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(func() { srv.Close(); _ = sim.Close() })
	d, err := awsdriver.New(context.Background(), awsdriver.Config{Name: "sim", Region: "ap-northeast-1", Endpoint: srv.URL,
		AccessKeyID: "AKIDTEST", SecretAccessKey: "test-secret"})
	if err != nil {
		t.Fatal(err)
	}
	return sim, d
}

func waitCreated(t *testing.T, d *awsdriver.Driver, reqID string) provider.CreateStatus {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		st, err := d.CreateAccountStatus(context.Background(), reqID)
		if err != nil {
			t.Fatalf("CreateAccountStatus: %v", err)
		}
		if st.State != provider.CreateInProgress {
			return st
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("creation %s still in progress", reqID)
	return provider.CreateStatus{}
}

// TestDriverLifecycle runs every driver method against the simulated cloud
// twice, because the workflow re-runs a step whenever it cannot tell
// whether the first run took effect.
func TestDriverLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// Long enough that FindAccount, under -race on a loaded machine, still
	// sees the creation in progress.
	sim, d := newSim(t, simcloud.Config{Latency: 750 * time.Millisecond})
	spec := provider.AccountSpec{Name: "tokyo-tax-prod", Email: "cloud+env1@sim.hatoba.invalid"}
	reqID, err := d.CreateAccount(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	found, err := d.FindAccount(ctx, spec)
	if err != nil || found.RequestID != reqID {
		t.Fatalf("FindAccount while in progress = %+v, %v; want request %s", found, err, reqID)
	}
	st := waitCreated(t, d, reqID)
	if st.State != provider.CreateSucceeded || len(st.AccountID) != 12 {
		t.Fatalf("status = %+v", st)
	}
	found, err = d.FindAccount(ctx, spec)
	if err != nil || found.AccountID != st.AccountID {
		t.Fatalf("FindAccount after creation = %+v, %v; want account %s", found, err, st.AccountID)
	}
	for round := range 2 {
		unit, err := d.EnsureUnit(ctx, []string{"local", "13-tokyo"})
		if err != nil {
			t.Fatalf("round %d EnsureUnit: %v", round, err)
		}
		if !strings.HasPrefix(unit, "ou-") {
			t.Fatalf("unit id %q", unit)
		}
		steps := []struct {
			name string
			run  func() error
		}{
			{"MoveAccount", func() error { return d.MoveAccount(ctx, st.AccountID, unit) }},
			{"AttachPolicies", func() error {
				return d.AttachPolicies(ctx, st.AccountID, []provider.Policy{{Name: "baseline", Description: "deny IAM users", Document: policyDoc}})
			}},
			{"AssignAccess", func() error {
				return d.AssignAccess(ctx, st.AccountID, provider.Access{AdminGroup: "env1-admins", MemberGroup: "env1-members"})
			}},
			{"SetBillingContact", func() error {
				return d.SetBillingContact(ctx, st.AccountID, provider.Contact{Name: "会計課", Title: "Billing", Email: "kaikei@city.example.jp", Phone: "+81-3-1234-5678"})
			}},
			{"TagAccount", func() error { return d.TagAccount(ctx, st.AccountID, map[string]string{"hatoba:environment": "env1"}) }},
		}
		for _, s := range steps {
			if err := s.run(); err != nil {
				t.Fatalf("round %d %s: %v", round, s.name, err)
			}
		}
	}
	if err := d.CloseAccount(ctx, st.AccountID); err != nil {
		t.Fatal(err)
	}
	if err := d.CloseAccount(ctx, st.AccountID); err != nil {
		t.Fatalf("closing twice: %v", err)
	}
	if got := sim.Stats(); got.Accounts != 1 || got.CreateCalls != 1 {
		t.Fatalf("stats = %+v", got)
	}
}

func TestDuplicateEmailFailsAsynchronously(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// Long enough that the second request, under -race on a loaded
	// machine, still meets the first in flight.
	_, d := newSim(t, simcloud.Config{Latency: 750 * time.Millisecond})
	spec := provider.AccountSpec{Name: "a", Email: "same@sim.hatoba.invalid"}
	first, err := d.CreateAccount(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	// While the first is in flight, a second request with its e-mail is
	// a concurrent modification; once it exists, the e-mail is taken.
	second, err := d.CreateAccount(ctx, provider.AccountSpec{Name: "b", Email: "SAME@sim.hatoba.invalid"})
	if err != nil {
		t.Fatalf("AWS accepts the request and fails it later; got %v", err)
	}
	if st := waitCreated(t, d, first); st.State != provider.CreateSucceeded {
		t.Fatalf("first = %+v", st)
	}
	if st := waitCreated(t, d, second); st.State != provider.CreateFailed || st.FailureReason != "CONCURRENT_ACCOUNT_MODIFICATION" || !st.Duplicate {
		t.Fatalf("second = %+v", st)
	}
	third, err := d.CreateAccount(ctx, provider.AccountSpec{Name: "c", Email: "same@SIM.hatoba.invalid"})
	if err != nil {
		t.Fatal(err)
	}
	if st := waitCreated(t, d, third); st.State != provider.CreateFailed || st.FailureReason != "EMAIL_ALREADY_EXISTS" || !st.Duplicate || st.Retry {
		t.Fatalf("third = %+v", st)
	}
}

func TestErrorClasses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name      string
		cfg       simcloud.Config
		call      func(d *awsdriver.Driver) error
		wantClass provider.Class
		wantCode  string
	}{
		{"invalid e-mail is permanent", simcloud.Config{},
			func(d *awsdriver.Driver) error {
				_, err := d.CreateAccount(ctx, provider.AccountSpec{Name: "x", Email: "not-an-email"})
				return err
			}, provider.Permanent, "InvalidInputException"},
		{"unknown account is permanent", simcloud.Config{},
			func(d *awsdriver.Driver) error { return d.TagAccount(ctx, "123456789012", map[string]string{"k": "v"}) },
			provider.Permanent, "TargetNotFoundException"},
		{"unknown account's billing contact is permanent (restJson1 error)", simcloud.Config{},
			func(d *awsdriver.Driver) error {
				return d.SetBillingContact(ctx, "123456789012", provider.Contact{Name: "n", Title: "Billing", Email: "a@b.example", Phone: "+81-3-0000-0000"})
			}, provider.Permanent, "AccessDeniedException"},
		{"invalid phone number is permanent", simcloud.Config{},
			func(d *awsdriver.Driver) error {
				return d.SetBillingContact(ctx, "123456789012", provider.Contact{Name: "n", Title: "Billing", Email: "a@b.example", Phone: "call me"})
			}, provider.Permanent, "ValidationException"},
		{"a person id Identity Store refuses is permanent", simcloud.Config{},
			func(d *awsdriver.Driver) error {
				return d.AddGroupMember(ctx, "g", provider.Person{ID: strings.Repeat("p", 129), DisplayName: "x"})
			}, provider.Permanent, "ValidationException"},
		{"concurrent-creation limit is throttling", simcloud.Config{Latency: time.Hour, ConcurrentCreations: 1},
			func(d *awsdriver.Driver) error {
				if _, err := d.CreateAccount(ctx, provider.AccountSpec{Name: "one", Email: "one@x.example"}); err != nil {
					return err
				}
				_, err := d.CreateAccount(ctx, provider.AccountSpec{Name: "two", Email: "two@x.example"})
				return err
			}, provider.Throttling, "ConstraintViolationException:ACCOUNT_CREATION_RATE_LIMIT_EXCEEDED"},
		{"rate limit is throttling", simcloud.Config{RatePerSecond: 1},
			func(d *awsdriver.Driver) error {
				for range 5 {
					if _, err := d.EnsureUnit(ctx, []string{"a"}); err != nil {
						return err
					}
				}
				return nil
			}, provider.Throttling, "TooManyRequestsException"},
		{"injected failure is transient", simcloud.Config{TransientRate: 1},
			func(d *awsdriver.Driver) error { return d.TagAccount(ctx, "123456789012", map[string]string{"k": "v"}) },
			provider.Transient, "ServiceException"},
		{"lost response is transient", simcloud.Config{LostResponseRate: 1},
			func(d *awsdriver.Driver) error {
				_, err := d.CreateAccount(ctx, provider.AccountSpec{Name: "x", Email: "x@x.example"})
				return err
			}, provider.Transient, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, d := newSim(t, tt.cfg)
			err := tt.call(d)
			var pe *provider.Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a *provider.Error", err)
			}
			if pe.Class != tt.wantClass || pe.Code != tt.wantCode {
				t.Fatalf("class %s code %q, want %s %q (%v)", pe.Class, pe.Code, tt.wantClass, tt.wantCode, err)
			}
		})
	}
}

func TestWrongCredentialsArePermanent(t *testing.T) {
	t.Parallel()
	sim, err := simcloud.Open(simcloud.Config{AccessKeyID: "AKIDTEST", SecretAccessKey: "right", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(func() { srv.Close(); _ = sim.Close() })
	for _, creds := range [][2]string{{"AKIDTEST", "wrong"}, {"OTHER", "right"}} {
		d, err := awsdriver.New(context.Background(), awsdriver.Config{Region: "ap-northeast-1", Endpoint: srv.URL, AccessKeyID: creds[0], SecretAccessKey: creds[1]})
		if err != nil {
			t.Fatal(err)
		}
		_, err = d.EnsureUnit(context.Background(), []string{"x"})
		if provider.ClassOf(err) != provider.Permanent {
			t.Fatalf("%v: err = %v, want permanent", creds, err)
		}
	}
}

// TestGroupMembers puts people into groups and takes them out, each call
// twice, as the workflow does whenever it cannot tell whether a first call
// took effect.
func TestGroupMembers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sim, d := newSim(t, simcloud.Config{})
	members := func(group string) string {
		t.Helper()
		got, err := sim.GroupMembers(ctx, group)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(got, ",")
	}
	taro := provider.Person{ID: "p-taro", DisplayName: "山田　太郎", Email: "yamada@city.example.lg.jp"}
	hanako := provider.Person{ID: "p-hanako", DisplayName: "Hanako"}
	steps := []struct {
		name  string
		run   func() error
		group string
		want  string
	}{
		{"ok/add", func() error { return d.AddGroupMember(ctx, "env1-members", taro) }, "env1-members", "p-taro"},
		{"ok/add a second person, without an e-mail", func() error { return d.AddGroupMember(ctx, "env1-members", hanako) }, "env1-members", "p-hanako,p-taro"},
		{"ok/the same user joins another group", func() error { return d.AddGroupMember(ctx, "env1-admins", taro) }, "env1-admins", "p-taro"},
		{"ok/remove", func() error { return d.RemoveGroupMember(ctx, "env1-members", "p-taro") }, "env1-members", "p-hanako"},
		{"ok/remove someone never added", func() error { return d.RemoveGroupMember(ctx, "env1-admins", "p-hanako") }, "env1-admins", "p-taro"},
		{"ok/remove someone unknown", func() error { return d.RemoveGroupMember(ctx, "env1-admins", "p-nobody") }, "env1-admins", "p-taro"},
		{"ok/remove from a group that does not exist", func() error { return d.RemoveGroupMember(ctx, "env2-admins", "p-taro") }, "env2-admins", ""},
	}
	for _, st := range steps {
		for round := range 2 {
			if err := st.run(); err != nil {
				t.Fatalf("%s, round %d: %v", st.name, round, err)
			}
		}
		if got := members(st.group); got != st.want {
			t.Fatalf("%s: %s holds %q, want %q", st.name, st.group, got, st.want)
		}
	}
}

// TestGroupMembersSurviveLostAnswers: with half the answers lost after the
// call took effect, repeating until success leaves the person in the group
// once, with one user.
func TestGroupMembersSurviveLostAnswers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sim, d := newSim(t, simcloud.Config{LostResponseRate: 0.5, Seed: 11})
	p := provider.Person{ID: "p-lost", DisplayName: "失われた 応答"}
	repeat := func(name string, f func() error) {
		t.Helper()
		var err error
		for range 50 {
			if err = f(); err == nil {
				return
			}
			if provider.ClassOf(err) != provider.Transient {
				t.Fatalf("%s: %v, want only transient failures", name, err)
			}
		}
		t.Fatalf("%s still failing after 50 tries: %v", name, err)
	}
	repeat("add", func() error { return d.AddGroupMember(ctx, "lost-members", p) })
	if got, err := sim.GroupMembers(ctx, "lost-members"); err != nil || strings.Join(got, ",") != "p-lost" {
		t.Fatalf("after add: %v, %v", got, err)
	}
	repeat("remove", func() error { return d.RemoveGroupMember(ctx, "lost-members", p.ID) })
	if got, err := sim.GroupMembers(ctx, "lost-members"); err != nil || len(got) != 0 {
		t.Fatalf("after remove: %v, %v", got, err)
	}
}
