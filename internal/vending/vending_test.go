package vending_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/org"
	"github.com/hatoba-cloud/hatoba/internal/provider"
	awsdriver "github.com/hatoba-cloud/hatoba/internal/provider/aws"
	"github.com/hatoba-cloud/hatoba/internal/simcloud"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
	"github.com/hatoba-cloud/hatoba/internal/vending"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type world struct {
	db    *store.DB
	envs  *env.Store
	orgs  *org.Registry
	sim   *simcloud.Server
	url   string
	simDB string // the simulated cloud's SQLite file
}

func newWorld(t *testing.T, db *store.DB, simCfg simcloud.Config) *world {
	t.Helper()
	simCfg.DBPath = filepath.Join(t.TempDir(), "sim.db")
	simCfg.AccessKeyID, simCfg.SecretAccessKey = "AKIDTEST", "test-secret"
	simCfg.Logger = quiet
	if simCfg.Latency == 0 {
		simCfg.Latency = 50 * time.Millisecond
	}
	sim, err := simcloud.Open(simCfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(func() { srv.Close(); _ = sim.Close() })
	orgs := org.New(db, time.Now)
	ctx := context.Background()
	for _, o := range []org.Organization{
		{ID: "nat-digital", Kind: org.KindNational, NameJa: "デジタル庁", NameEn: "Digital Agency"},
		{ID: "qp-jlis", Kind: org.KindQuasiPublic, NameJa: "地方公共団体情報システム機構", NameEn: "J-LIS",
			Billing: org.Contact{Name: "J-LIS billing", Email: "billing@jlis.example", Phone: "+81-3-0000-0001"}},
	} {
		if _, err := orgs.Create(ctx, audit.Acting{Actor: "system"}, o); err != nil {
			t.Fatal(err)
		}
	}
	return &world{db: db, envs: env.NewStore(db, time.Now), orgs: orgs, sim: sim, url: srv.URL, simDB: simCfg.DBPath}
}

func (w *world) driver(t *testing.T) provider.Provider {
	t.Helper()
	d, err := awsdriver.New(context.Background(), awsdriver.Config{Name: "sim", Region: "ap-northeast-1", Endpoint: w.url,
		AccessKeyID: "AKIDTEST", SecretAccessKey: "test-secret"})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (w *world) engine(t *testing.T, p provider.Provider, capacity int) *vending.Engine {
	t.Helper()
	e, err := vending.New(w.db, w.envs, w.orgs, vending.Config{
		Connections: []vending.Connection{{Name: "sim", Provider: p, Cap: capacity, PollInterval: 10 * time.Millisecond,
			Allowed: []env.Classification{env.Level1, env.Level2, env.Level3}}},
		DefaultBilling: provider.Contact{Name: "desk", Email: "desk@example.jp", Phone: "+81-3-0000-0000"},
		Policies:       []provider.Policy{{Name: "baseline", Description: "test", Document: `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iam:CreateUser","Resource":"*"}]}`}},
		RetryBase:      20 * time.Millisecond, RetryMax: 200 * time.Millisecond, MaxAttempts: 25,
		SlotPollInterval: 10 * time.Millisecond, FetchPollInterval: 20 * time.Millisecond,
		ResumeInterval: 200 * time.Millisecond, JobTimeout: 20 * time.Second, Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (w *world) request(t *testing.T, e *vending.Engine, n int, orgID string) []string {
	t.Helper()
	var ids []string
	for i := 0; i < n; i++ {
		// Every other name is Japanese, as most of the platform's will be.
		name := fmt.Sprintf("system-%03d", i)
		if i%2 == 1 {
			name = fmt.Sprintf("住民記録%03d", i)
		}
		en, _, err := e.Request(context.Background(), env.Request{OrgID: orgID, SystemName: name,
			Purpose: env.Development, Classification: env.Level2, Provider: "sim"}, "")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, en.ID)
	}
	return ids
}

// waitSettled polls until every environment is ready or failed.
func (w *world) waitSettled(t *testing.T, ids []string, timeout time.Duration) map[string]env.Environment {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out := map[string]env.Environment{}
		for _, id := range ids {
			en, err := w.envs.Get(context.Background(), w.db, id)
			if err != nil {
				t.Fatal(err)
			}
			if en.State == env.Ready || en.State == env.Failed {
				out[id] = en
			}
		}
		if len(out) == len(ids) {
			return out
		}
		if time.Now().After(deadline) {
			var pending []string
			for _, id := range ids {
				if _, ok := out[id]; !ok {
					en, _ := w.envs.Get(context.Background(), w.db, id)
					steps, _ := w.envs.Steps(context.Background(), w.db, id)
					pending = append(pending, fmt.Sprintf("%s %s %q steps %+v", id, en.State, en.StateReason, steps))
				}
			}
			t.Fatalf("%d of %d environments settled within %s; pending:\n%s", len(out), len(ids), timeout, strings.Join(pending, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func assertAllReady(t *testing.T, w *world, settled map[string]env.Environment) {
	t.Helper()
	accounts := map[string]string{}
	for id, en := range settled {
		if en.State != env.Ready {
			t.Errorf("%s is %s: %s", id, en.State, en.StateReason)
			continue
		}
		if other, dup := accounts[en.AccountID]; dup {
			t.Errorf("%s and %s share account %s", id, other, en.AccountID)
		}
		accounts[en.AccountID] = id
		steps, err := w.envs.Steps(context.Background(), w.db, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range steps {
			if s.State != env.StepDone || s.Attempts < 1 {
				t.Errorf("%s step %s: %s after %d attempts", id, s.Name, s.State, s.Attempts)
			}
		}
	}
	if st := w.sim.Stats(); st.Accounts != len(settled) {
		t.Errorf("the simulated cloud holds %d accounts for %d environments", st.Accounts, len(settled))
	}
}

func TestVendEndToEnd(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db, simcloud.Config{})
		e := w.engine(t, w.driver(t), 5)
		if err := e.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = e.Stop(context.Background()) })
		ids := append(w.request(t, e, 6, "nat-digital"), w.request(t, e, 2, "qp-jlis")...)
		assertAllReady(t, w, w.waitSettled(t, ids, 60*time.Second))
		if st := w.sim.Stats(); st.MaxConcurrentObserved > 5 {
			t.Errorf("simulated cloud saw %d concurrent creations; cap is 5", st.MaxConcurrentObserved)
		}
	})
}

// TestVendSurvivesFlakyProvider: transient errors, throttling and lost
// CreateAccount responses still give every environment exactly one account.
func TestVendSurvivesFlakyProvider(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db, simcloud.Config{TransientRate: 0.15, LostResponseRate: 0.3, RatePerSecond: 150, Seed: 7})
		e := w.engine(t, w.driver(t), 5)
		if err := e.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = e.Stop(context.Background()) })
		ids := w.request(t, e, 10, "nat-digital")
		assertAllReady(t, w, w.waitSettled(t, ids, 120*time.Second))
	})
}

// failOnce fails one operation permanently until released.
type failOnce struct {
	provider.Provider
	fail atomic.Bool
}

func (f *failOnce) AttachPolicies(ctx context.Context, accountID string, p []provider.Policy) error {
	if f.fail.Load() {
		return &provider.Error{Class: provider.Permanent, Op: "AttachPolicy", Code: "PolicyTypeNotEnabledException", Err: fmt.Errorf("SCPs are not enabled")}
	}
	return f.Provider.AttachPolicies(ctx, accountID, p)
}

func TestPermanentFailureAndRetry(t *testing.T) {
	t.Parallel()
	w := newWorld(t, storetest.Open(t, store.SQLite), simcloud.Config{})
	p := &failOnce{Provider: w.driver(t)}
	p.fail.Store(true)
	e := w.engine(t, p, 5)
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Stop(context.Background()) })
	ids := w.request(t, e, 1, "nat-digital")
	en := w.waitSettled(t, ids, 30*time.Second)[ids[0]]
	if en.State != env.Failed || en.AccountID == "" {
		t.Fatalf("state %s account %q, want failed with an account", en.State, en.AccountID)
	}
	steps, _ := w.envs.Steps(context.Background(), w.db, en.ID)
	failedStep := steps[3]
	if failedStep.Name != vending.StepAttachPolicies || failedStep.State != env.StepFailed || failedStep.ErrorClass != "permanent" || failedStep.LastError == "" {
		t.Fatalf("step %+v, want attach_preventive_policies failed permanently", failedStep)
	}
	if _, err := e.Retry(context.Background(), en.ID, "operator"); err == nil {
		// Retrying while the cause persists fails again, without a second account.
		w.waitSettled(t, ids, 30*time.Second)
	}
	p.fail.Store(false)
	if _, err := e.Retry(context.Background(), en.ID, "operator"); err != nil {
		t.Fatal(err)
	}
	// Poll for ready (waitSettled would return at once on the old failed state).
	deadline := time.Now().Add(30 * time.Second)
	for {
		en, _ = w.envs.Get(context.Background(), w.db, en.ID)
		if en.State == env.Ready {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after retry: %s %s", en.State, en.StateReason)
		}
		time.Sleep(20 * time.Millisecond)
	}
	assertAllReady(t, w, map[string]env.Environment{en.ID: en})
}

// TestResumeAfterStop stops the workers mid-vending and starts new ones
// on the same database: every environment ends ready with one account.
func TestResumeAfterStop(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db, simcloud.Config{Latency: 300 * time.Millisecond, LostResponseRate: 0.2, Seed: 3})
		first := w.engine(t, w.driver(t), 5)
		if err := first.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		ids := w.request(t, first, 8, "nat-digital")
		time.Sleep(150 * time.Millisecond) // some creations are in flight
		stopCtx, cancel := context.WithCancel(context.Background())
		cancel() // stop without waiting for running steps
		_ = first.Stop(stopCtx)
		second := w.engine(t, w.driver(t), 5)
		if err := second.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = second.Stop(context.Background()) })
		assertAllReady(t, w, w.waitSettled(t, ids, 90*time.Second))
	})
}

// TestGlobalCapAcrossReplicas runs three engines on one database against a
// cloud that would accept far more: at most cap creations are ever in flight.
func TestGlobalCapAcrossReplicas(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db, simcloud.Config{Latency: 100 * time.Millisecond, ConcurrentCreations: 100})
		var engines []*vending.Engine
		for i := 0; i < 3; i++ {
			e := w.engine(t, w.driver(t), 3)
			if err := e.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			engines = append(engines, e)
		}
		t.Cleanup(func() {
			var wg sync.WaitGroup
			for _, e := range engines {
				wg.Add(1)
				go func() { defer wg.Done(); _ = e.Stop(context.Background()) }()
			}
			wg.Wait()
		})
		ids := w.request(t, engines[0], 15, "nat-digital")
		assertAllReady(t, w, w.waitSettled(t, ids, 90*time.Second))
		if st := w.sim.Stats(); st.MaxConcurrentObserved > 3 {
			t.Fatalf("%d creations were in flight at once; the global cap is 3", st.MaxConcurrentObserved)
		}
	})
}

// TestTransferAndClose gives a ready environment to another organisation and
// back — the account follows to each owner's unit in the provider, and the
// history records it — and then closes it, which closes the account.
func TestTransferAndClose(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db, simcloud.Config{})
		drv := w.driver(t)
		e := w.engine(t, drv, 5)
		if err := e.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = e.Stop(context.Background()) })
		id := w.request(t, e, 1, "nat-digital")[0]
		en := w.waitSettled(t, []string{id}, 30*time.Second)[id]
		if en.State != env.Ready {
			t.Fatalf("%s: %s", en.State, en.StateReason)
		}
		orgs := organizations.NewFromConfig(aws.Config{Region: "us-east-1",
			Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "test-secret", "")},
			func(o *organizations.Options) { o.BaseEndpoint = aws.String(w.url) })
		parentOf := func() string {
			out, err := orgs.ListParents(ctx, &organizations.ListParentsInput{ChildId: aws.String(en.AccountID)})
			if err != nil || len(out.Parents) != 1 {
				t.Fatalf("ListParents: %v", err)
			}
			return aws.ToString(out.Parents[0].Id)
		}
		unit := func(path ...string) string {
			id, err := drv.EnsureUnit(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			return id
		}
		if got, want := parentOf(), unit("National", "Digital Agency"); got != want {
			t.Fatalf("vended into %s, want National/Digital Agency (%s)", got, want)
		}

		for _, to := range []struct {
			org  string
			path []string
		}{{"qp-jlis", []string{"QuasiPublic"}}, {"nat-digital", []string{"National", "Digital Agency"}}} {
			if _, err := e.Transfer(ctx, id, to.org, "operator"); err != nil {
				t.Fatalf("transfer to %s: %v", to.org, err)
			}
			want := unit(to.path...)
			deadline := time.Now().Add(20 * time.Second)
			for parentOf() != want {
				if time.Now().After(deadline) {
					t.Fatalf("after the transfer to %s the account is still in %s, want %s", to.org, parentOf(), want)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if got, _ := w.envs.Get(ctx, db, id); got.OrgID != to.org || got.UnitPath != strings.Join(to.path, "/") {
				t.Fatalf("after the transfer: owner %s unit %s", got.OrgID, got.UnitPath)
			}
		}
		if _, err := e.Transfer(ctx, id, "nat-digital", "operator"); fault.KindOf(err) != fault.Invalid {
			t.Fatalf("transfer to the current owner: %v, want invalid", err)
		}
		events, err := w.envs.Events(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		transfers := 0
		for _, ev := range events {
			if ev.Kind == "transferred" {
				transfers++
			}
		}
		if transfers != 2 {
			t.Fatalf("%d transfers recorded, want 2: %+v", transfers, events)
		}

		if _, err := e.Close(ctx, id, "operator", "system retired"); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			got, _ := w.envs.Get(ctx, db, id)
			if got.State == env.Closed {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("close: still %s %s", got.State, got.StateReason)
			}
			time.Sleep(20 * time.Millisecond)
		}
		acct, err := orgs.DescribeAccount(ctx, &organizations.DescribeAccountInput{AccountId: aws.String(en.AccountID)})
		if err != nil || acct.Account.Status != orgtypes.AccountStatusSuspended {
			t.Fatalf("the provider account after close: %+v, %v", acct, err)
		}
	})
}
