package vending_test

import (
	"context"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/provider"
	"github.com/hatoba-cloud/hatoba/internal/simcloud"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
	"github.com/hatoba-cloud/hatoba/internal/vending"
)

// recordAttach records the policies each account was given.
type recordAttach struct {
	provider.Provider
	mu  sync.Mutex
	got map[string][]string // account → policy names
}

func (r *recordAttach) AttachPolicies(ctx context.Context, accountID string, ps []provider.Policy) error {
	r.mu.Lock()
	for _, p := range ps {
		r.got[accountID] = append(r.got[accountID], p.Name)
	}
	r.mu.Unlock()
	return r.Provider.AttachPolicies(ctx, accountID, ps)
}

func (w *world) policyEngine(t *testing.T, p provider.Provider, set func(context.Context, env.Environment) ([]provider.Policy, error)) *vending.Engine {
	t.Helper()
	e, err := vending.New(w.db, w.envs, w.orgs, vending.Config{
		Connections: []vending.Connection{{Name: "sim", Provider: p, Cap: 5, PollInterval: 10 * time.Millisecond,
			Allowed: []env.Classification{env.Level1, env.Level2, env.Level3}}},
		DefaultBilling: provider.Contact{Name: "desk", Email: "desk@example.jp", Phone: "+81-3-0000-0000"},
		Policies:       []provider.Policy{{Name: "static-not-used", Description: "test", Document: `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iam:CreateUser","Resource":"*"}]}`}},
		PolicySet:      set,
		RetryBase:      20 * time.Millisecond, RetryMax: 200 * time.Millisecond, MaxAttempts: 25,
		SlotPollInterval: 10 * time.Millisecond, FetchPollInterval: 20 * time.Millisecond,
		ResumeInterval: 200 * time.Millisecond, JobTimeout: 20 * time.Second, Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Stop(context.Background()) })
	return e
}

// TestPolicySet: the attach step attaches what PolicySet gives for each
// environment — here every built-in preventive control rendered for
// nat-digital and nothing but a base policy for qp-jlis — and the simulated
// cloud, which enforces AWS's limits, takes the rendered documents.
func TestPolicySet(t *testing.T) {
	t.Parallel()
	w := newWorld(t, storetest.Open(t, store.SQLite), simcloud.Config{})
	cs, err := controls.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	var enforced []controls.Control
	for _, c := range cs {
		if c.Has(controls.Preventive) {
			enforced = append(enforced, c)
		}
	}
	rendered, err := controls.RenderSCPs(enforced, controls.SCPOptions{MaxPolicies: 3})
	if err != nil {
		t.Fatal(err)
	}
	base := provider.Policy{Name: "base", Description: "test", Document: `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"organizations:LeaveOrganization","Resource":"*"}]}`}
	want := map[string][]string{"nat-digital": {"base"}, "qp-jlis": {"base"}}
	for _, r := range rendered {
		want["nat-digital"] = append(want["nat-digital"], r.Name)
	}
	var asked sync.Map
	set := func(ctx context.Context, en env.Environment) ([]provider.Policy, error) {
		asked.Store(en.ID, true)
		out := []provider.Policy{base}
		if en.OrgID == "nat-digital" {
			for _, r := range rendered {
				out = append(out, provider.Policy{Name: r.Name, Description: r.Description, Document: r.Document})
			}
		}
		return out, nil
	}
	rec := &recordAttach{Provider: w.driver(t), got: map[string][]string{}}
	e := w.policyEngine(t, rec, set)
	ids := append(w.request(t, e, 2, "nat-digital"), w.request(t, e, 1, "qp-jlis")...)
	settled := w.waitSettled(t, ids, 60*time.Second)

	orgs := organizations.NewFromConfig(aws.Config{Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "test-secret", "")},
		func(o *organizations.Options) { o.BaseEndpoint = aws.String(w.url) })
	for _, id := range ids {
		en := settled[id]
		if en.State != env.Ready {
			t.Fatalf("%s: %s %s", id, en.State, en.StateReason)
		}
		if _, ok := asked.Load(id); !ok {
			t.Errorf("%s: PolicySet not asked", id)
		}
		rec.mu.Lock()
		got := slices.Clone(rec.got[en.AccountID])
		rec.mu.Unlock()
		if !slices.Equal(got, want[en.OrgID]) {
			t.Errorf("%s (%s): attached %v, want %v", id, en.OrgID, got, want[en.OrgID])
		}
		out, err := orgs.ListPoliciesForTarget(context.Background(), &organizations.ListPoliciesForTargetInput{
			TargetId: aws.String(en.AccountID), Filter: orgtypes.PolicyTypeServiceControlPolicy})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, p := range out.Policies {
			names = append(names, aws.ToString(p.Name))
		}
		sort.Strings(names)
		// AWS attaches FullAWSAccess to every new account.
		wantNames := append(slices.Clone(want[en.OrgID]), "FullAWSAccess")
		sort.Strings(wantNames)
		if !slices.Equal(names, wantNames) {
			t.Errorf("%s: the simulated cloud has %v attached, want %v", id, names, wantNames)
		}
	}
}

// TestPolicySetRefusal: controls that cannot be rendered fail the step
// permanently, naming them; nothing is attached.
func TestPolicySetRefusal(t *testing.T) {
	t.Parallel()
	w := newWorld(t, storetest.Open(t, store.SQLite), simcloud.Config{})
	rec := &recordAttach{Provider: w.driver(t), got: map[string][]string{}}
	e := w.policyEngine(t, rec, func(ctx context.Context, en env.Environment) ([]provider.Policy, error) {
		return nil, &controls.SCPFitError{Controls: []string{"too-big"}, Reason: "test"}
	})
	id := w.request(t, e, 1, "nat-digital")[0]
	en := w.waitSettled(t, []string{id}, 30*time.Second)[id]
	if en.State != env.Failed {
		t.Fatalf("state %s, want failed", en.State)
	}
	steps, _ := w.envs.Steps(context.Background(), w.db, id)
	var step env.Step
	for _, s := range steps {
		if s.Name == vending.StepAttachPolicies {
			step = s
		}
	}
	if step.State != env.StepFailed || step.ErrorClass != "permanent" || step.Attempts > 1 {
		t.Errorf("step %+v, want failed permanently at the first attempt", step)
	}
	if fault.KindOf(&controls.SCPFitError{}) != fault.Conflict {
		t.Error("SCPFitError is not a conflict")
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.got) != 0 {
		t.Errorf("attached %v", rec.got)
	}
}

// TestReconcilePolicies: an environment vended before a control was
// enforced gets it at reconciliation, and loses it when it is no longer
// wanted; a policy hatoba does not manage stays.
func TestReconcilePolicies(t *testing.T) {
	t.Parallel()
	w := newWorld(t, storetest.Open(t, store.SQLite), simcloud.Config{})
	base := provider.Policy{Name: "base", Description: "test", Document: `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"organizations:LeaveOrganization","Resource":"*"}]}`}
	enforced := func(doc string) provider.Policy {
		return provider.Policy{Name: vending.DefaultManagedPolicyPrefix + "-" + doc, Description: "test",
			Document: `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iam:` + doc + `","Resource":"*"}]}`}
	}
	var mu sync.Mutex
	wanted := []provider.Policy{base}
	set := func(context.Context, env.Environment) ([]provider.Policy, error) {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(wanted), nil
	}
	e := w.policyEngine(t, w.driver(t), set)
	id := w.request(t, e, 1, "nat-digital")[0]
	en := w.waitSettled(t, []string{id}, 60*time.Second)[id]
	if en.State != env.Ready {
		t.Fatalf("%s %s", en.State, en.StateReason)
	}
	orgs := organizations.NewFromConfig(aws.Config{Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "test-secret", "")},
		func(o *organizations.Options) { o.BaseEndpoint = aws.String(w.url) })
	attached := func() []string {
		t.Helper()
		out, err := orgs.ListPoliciesForTarget(context.Background(), &organizations.ListPoliciesForTargetInput{
			TargetId: aws.String(en.AccountID), Filter: orgtypes.PolicyTypeServiceControlPolicy})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, p := range out.Policies {
			names = append(names, aws.ToString(p.Name))
		}
		sort.Strings(names)
		return names
	}
	steps := []struct {
		name   string
		wanted []provider.Policy
		want   []string
	}{
		{"a control enforced after vending arrives", []provider.Policy{base, enforced("CreateUser")}, []string{"FullAWSAccess", "base", "hatoba-preventive-CreateUser"}},
		{"a changed set replaces the managed policy", []provider.Policy{base, enforced("CreateAccessKey")}, []string{"FullAWSAccess", "base", "hatoba-preventive-CreateAccessKey"}},
		{"an unenforced control leaves; the unmanaged base stays", []provider.Policy{base}, []string{"FullAWSAccess", "base"}},
	}
	for _, st := range steps {
		mu.Lock()
		wanted = st.wanted
		mu.Unlock()
		if ok, err := e.ReconcilePolicies(context.Background(), en); err != nil || !ok {
			t.Fatalf("%s: %v %v", st.name, ok, err)
		}
		if got := attached(); !slices.Equal(got, st.want) {
			t.Fatalf("%s: attached %v, want %v", st.name, got, st.want)
		}
	}
	if done, failed, err := e.ReconcileAllPolicies(context.Background()); err != nil || done != 1 || failed != 0 {
		t.Fatalf("reconcile all: %d %d %v", done, failed, err)
	}
}
