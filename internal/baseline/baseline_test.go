package baseline_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/hatoba-cloud/hatoba/internal/assignments"
	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/baseline"
	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/notify"
	"github.com/hatoba-cloud/hatoba/internal/org"
	"github.com/hatoba-cloud/hatoba/internal/provider"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var (
	engineOnce sync.Once
	engine     *controls.Engine
	engineErr  error
)

func catalog(t testing.TB) *controls.Engine {
	t.Helper()
	engineOnce.Do(func() {
		cs, err := controls.Builtin()
		if err != nil {
			engineErr = err
			return
		}
		engine, engineErr = controls.NewEngine(context.Background(), cs)
	})
	if engineErr != nil {
		t.Fatal(engineErr)
	}
	return engine
}

func keys(t testing.TB) (note.Signer, note.Verifier) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, "hatoba.test/audit")
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

func template(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fakeStacks is a provider's stack capability in memory: enough to follow
// a deployment through its states; the wire level is the simulated
// cloud's (internal/simcloud) and the aws driver's tests.
type fakeStacks struct {
	mu     sync.Mutex
	stacks map[string]*fakeStack // account/name
	calls  int
	fail   error
}

type fakeStack struct {
	status, template string
}

func (f *fakeStacks) DeployStack(_ context.Context, account string, spec provider.StackSpec) (provider.StackStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fail != nil {
		return provider.StackStatus{}, f.fail
	}
	if spec.PermissionSet != baseline.AdministratorSet {
		return provider.StackStatus{}, errors.New("not the administrator set")
	}
	id := "arn:stack/" + account + "/" + spec.Name
	st := f.stacks[id]
	switch {
	case spec.StackID == "" && st != nil:
		return provider.StackStatus{}, errors.New("AlreadyExistsException")
	case spec.StackID != "" && (spec.StackID != id || st == nil):
		return provider.StackStatus{}, errors.New("no such stack")
	case st == nil:
		st = &fakeStack{status: "CREATE_IN_PROGRESS"}
		f.stacks[id] = st
	default:
		st.status = "UPDATE_IN_PROGRESS"
	}
	st.template = spec.Template
	return provider.StackStatus{ID: id, Name: spec.Name, Status: st.status}, nil
}

func (f *fakeStacks) DescribeStack(_ context.Context, _, id string) (provider.StackStatus, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.stacks[id]
	if st == nil {
		return provider.StackStatus{}, false, nil
	}
	// Settles on the first look, as the simulated cloud does without a latency.
	st.status = strings.Replace(st.status, "IN_PROGRESS", "COMPLETE", 1)
	return provider.StackStatus{ID: id, Status: st.status}, true, nil
}

func (f *fakeStacks) StackEvents(context.Context, string, string) ([]provider.StackEvent, error) {
	return nil, nil
}

func (f *fakeStacks) StackTemplate(_ context.Context, _, id string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stacks[id].template, nil
}

type fixture struct {
	svc    *baseline.Service
	clock  *clock
	stacks *fakeStacks
	v      note.Verifier
	db     *store.DB
}

func setup(t *testing.T, db *store.DB) fixture {
	t.Helper()
	ctx := context.Background()
	orgs := org.New(db, time.Now)
	for _, o := range []org.Organization{{ID: "nat-digital", Kind: org.KindNational, NameJa: "デジタル庁"}} {
		if _, err := orgs.Create(ctx, audit.Acting{Actor: "system"}, o); err != nil {
			t.Fatal(err)
		}
	}
	envs := env.NewStore(db, time.Now)
	for _, e := range []env.Environment{
		{ID: "env-aws", Provider: "sim", State: env.Ready, AccountID: "111122223333"},
		{ID: "env-os", Provider: "openstack", State: env.Ready, AccountID: "p-1"},
		{ID: "env-new", Provider: "sim", State: env.Provisioning},
	} {
		e.OrgID, e.SystemName, e.Purpose, e.Classification, e.AccountEmail = "nat-digital", e.ID, env.Production, env.Level2, e.ID+"@example.invalid"
		if err := envs.Insert(ctx, db, e, nil); err != nil {
			t.Fatal(err)
		}
	}
	signer, v := keys(t)
	c := &clock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	fs := &fakeStacks{stacks: map[string]*fakeStack{}}
	svc := baseline.New(db, envs, baseline.Options{Signer: signer, Engine: func() *controls.Engine { return catalog(t) }, Region: "ap-northeast-1",
		Now: c.now, Stacks: func(name string) (provider.Stacks, bool, bool) {
			switch name {
			case "sim":
				return fs, true, true
			case "openstack":
				return nil, false, true
			}
			return nil, false, false
		}})
	return fixture{svc: svc, clock: c, stacks: fs, v: v, db: db}
}

// audited lists the actors of the audit entries of action, comma-separated.
func audited(t *testing.T, db *store.DB, action string) string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), `SELECT actor FROM audit_queue WHERE action = $1 ORDER BY id`, action)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(out, ",")
}

func goodSpec(t testing.TB) baseline.Spec {
	return baseline.Spec{Format: baseline.CloudFormation, Template: template(t, "baseline-v1.yaml"), Changelog: "First release: the audit bucket.",
		Controls:      []baseline.ControlRef{{ControlID: "aws-s3-versioning"}, {ControlID: "aws-root-mfa", Mode: assignments.Enforce}},
		Notifications: []baseline.NotifyRule{{Name: "critical-to-chat", Kinds: []notify.Kind{notify.Slack, notify.Teams}, MinSeverity: controls.Critical}}}
}

func TestPublish(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := setup(t, db)
		rel, created, err := f.svc.Publish(ctx, "p-central", "secure-baseline", "1.0.0", goodSpec(t))
		if err != nil || !created {
			t.Fatalf("publish: %v %v", created, err)
		}
		if !rel.Scan.Scanned || rel.Scan.Resources == 0 || len(rel.Scan.Findings) != 0 {
			t.Fatalf("scan summary %+v", rel.Scan)
		}
		if rel.Controls[0].ControlID != "aws-root-mfa" || rel.Controls[1].Mode != assignments.Detect {
			t.Fatalf("controls not sorted and defaulted: %+v", rel.Controls)
		}
		// The same content again is the same release; other content is refused.
		again, created, err := f.svc.Publish(ctx, "p-other", "secure-baseline", "1.0.0", goodSpec(t))
		if err != nil || created || again.Note != rel.Note {
			t.Fatalf("re-publish of the same content: created=%v err=%v", created, err)
		}
		changed := goodSpec(t)
		changed.Changelog = "something else"
		if _, _, err := f.svc.Publish(ctx, "p-central", "secure-baseline", "1.0.0", changed); fault.KindOf(err) != fault.Conflict {
			t.Fatalf("re-publish with other content: %v, want conflict", err)
		}
		got, err := f.svc.Release(ctx, "secure-baseline", "1.0.0")
		if err != nil || got.Changelog != rel.Changelog || got.TemplateSHA256 != rel.TemplateSHA256 {
			t.Fatalf("stored release changed: %v %+v", err, got)
		}
		// Offline verification of the release as the API returns it.
		raw, _ := json.MarshalIndent(got, "", "  ")
		parsed, err := baseline.ParseRelease(raw)
		if err != nil {
			t.Fatal(err)
		}
		if m, err := baseline.Verify(parsed, f.v); err != nil || m.Version != "1.0.0" || m.PublishedBy != "p-central" {
			t.Fatalf("verify: %v %+v", err, m)
		}
		// One audit entry, by the publisher: the no-op re-publish adds none.
		if got := audited(t, db, "baseline.publish"); got != "p-central" {
			t.Fatalf("audited publishers %q", got)
		}
	})
}

func TestPublishRefused(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := setup(t, db)
		bad := goodSpec(t)
		bad.Template = template(t, "open-ssh.yaml")
		for _, tc := range []struct {
			name    string
			product string
			version string
			spec    func(baseline.Spec) baseline.Spec
			field   string
		}{
			{"fail/scan", "secure-baseline", "1.0.0", func(baseline.Spec) baseline.Spec { return bad }, "template"},
			{"fail/version", "secure-baseline", "1.0", func(s baseline.Spec) baseline.Spec { return s }, "version"},
			{"fail/version-build", "secure-baseline", "1.0.0+abc", func(s baseline.Spec) baseline.Spec { return s }, "version"},
			{"fail/product", "Secure Baseline", "1.0.0", func(s baseline.Spec) baseline.Spec { return s }, "product"},
			{"fail/format", "secure-baseline", "1.0.0", func(s baseline.Spec) baseline.Spec { s.Format = "pulumi"; return s }, "format"},
			{"fail/not-cfn", "secure-baseline", "1.0.0", func(s baseline.Spec) baseline.Spec { s.Template = "hello: world\n"; return s }, "template"},
			{"fail/control", "secure-baseline", "1.0.0", func(s baseline.Spec) baseline.Spec {
				s.Controls = []baseline.ControlRef{{ControlID: "no-such-control"}}
				return s
			}, "controls[0].control_id"},
			{"fail/mode", "secure-baseline", "1.0.0", func(s baseline.Spec) baseline.Spec {
				s.Controls = []baseline.ControlRef{{ControlID: "aws-root-mfa", Mode: "prevent"}}
				return s
			}, "controls[0].mode"},
			{"fail/notify-kind", "secure-baseline", "1.0.0", func(s baseline.Spec) baseline.Spec {
				s.Notifications = []baseline.NotifyRule{{Name: "x", Kinds: []notify.Kind{"pager"}, MinSeverity: controls.High}}
				return s
			}, "notifications[0].kinds"},
			{"fail/changelog", "secure-baseline", "1.0.0", func(s baseline.Spec) baseline.Spec { s.Changelog = " "; return s }, "changelog"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, _, err := f.svc.Publish(ctx, "p-central", tc.product, tc.version, tc.spec(goodSpec(t)))
				fe, ok := fault.As(err)
				if !ok || fe.Kind != fault.Invalid || fe.Field != tc.field {
					t.Fatalf("got %v, want invalid %s", err, tc.field)
				}
			})
		}
		_, _, err := f.svc.Publish(ctx, "p-central", "secure-baseline", "1.0.0", bad)
		var refusal *baseline.ScanRefusal
		if !errors.As(err, &refusal) || len(refusal.Findings) != 1 || refusal.Findings[0].ControlID != "aws-sg-no-public-admin-ports" {
			t.Fatalf("refusal %v", err)
		}
		// A refused release is not stored: the version is still free.
		if _, err := f.svc.Release(ctx, "secure-baseline", "1.0.0"); fault.KindOf(err) != fault.NotFound {
			t.Fatalf("refused release stored: %v", err)
		}
		// Terraform and Heat are stored and signed, not scanned.
		tf := goodSpec(t)
		tf.Format, tf.Template = baseline.Terraform, "resource \"aws_s3_bucket\" \"b\" {}\n"
		rel, _, err := f.svc.Publish(ctx, "p-central", "secure-baseline-tf", "0.1.0", tf)
		if err != nil || rel.Scan.Scanned {
			t.Fatalf("terraform release: %v %+v", err, rel.Scan)
		}
	})
}

func TestVerifyTampered(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	f := setup(t, db)
	rel, _, err := f.svc.Publish(context.Background(), "p-central", "secure-baseline", "1.0.0", goodSpec(t))
	if err != nil {
		t.Fatal(err)
	}
	_, otherV := keys(t)
	for _, tc := range []struct {
		name   string
		change func(r *baseline.Release)
		v      note.Verifier
	}{
		{"fail/template", func(r *baseline.Release) { r.Template += "\n# changed\n" }, f.v},
		{"fail/manifest", func(r *baseline.Release) {
			r.Manifest = json.RawMessage(strings.Replace(string(r.Manifest), "First release", "Worst release", 1))
		}, f.v},
		{"fail/version", func(r *baseline.Release) { r.Version = "9.9.9" }, f.v},
		{"fail/key", func(*baseline.Release) {}, otherV},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rel
			tc.change(&r)
			if _, err := baseline.Verify(r, tc.v); err == nil {
				t.Fatal("verified")
			}
		})
	}
	if _, err := baseline.Verify(rel, f.v); err != nil {
		t.Fatalf("ok/untouched: %v", err)
	}
}

func TestVersionOrder(t *testing.T) {
	t.Parallel()
	order := []string{"0.9.0", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.2.0", "1.10.0", "2.0.0"}
	for i := 1; i < len(order); i++ {
		a, err := baseline.ParseVersion(order[i-1])
		if err != nil {
			t.Fatal(err)
		}
		b, err := baseline.ParseVersion(order[i])
		if err != nil {
			t.Fatal(err)
		}
		if a.Compare(b) >= 0 || b.Compare(a) <= 0 {
			t.Errorf("%s should come before %s", a, b)
		}
	}
	for _, bad := range []string{"", "1", "1.2", "01.2.3", "1.2.3-", "1.2.3+build", "v1.2.3", "1.2.3-01"} {
		if _, err := baseline.ParseVersion(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestDiff(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	f := setup(t, db)
	ctx := context.Background()
	if _, _, err := f.svc.Publish(ctx, "p-central", "secure-baseline", "1.0.0", goodSpec(t)); err != nil {
		t.Fatal(err)
	}
	next := goodSpec(t)
	next.Template = strings.Replace(next.Template, "LogFilePrefix: audit/", "LogFilePrefix: audit-v2/", 1)
	next.Controls = []baseline.ControlRef{{ControlID: "aws-root-mfa"}, {ControlID: "aws-s3-public-access-block"}}
	next.Notifications = nil
	next.Changelog = "Logs under audit-v2/."
	if _, _, err := f.svc.Publish(ctx, "p-central", "secure-baseline", "1.1.0", next); err != nil {
		t.Fatal(err)
	}
	d, err := f.svc.Diff(ctx, "secure-baseline", "1.0.0", "1.1.0")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(d.Template, "-        LogFilePrefix: audit/\n+        LogFilePrefix: audit-v2/\n") || !strings.HasPrefix(d.Template, "--- secure-baseline@1.0.0\n+++ secure-baseline@1.1.0\n@@ -") {
		t.Fatalf("template diff:\n%s", d.Template)
	}
	if len(d.ControlsAdded) != 1 || d.ControlsAdded[0].ControlID != "aws-s3-public-access-block" ||
		len(d.ControlsRemoved) != 1 || d.ControlsRemoved[0].ControlID != "aws-s3-versioning" ||
		len(d.ControlsChanged) != 1 || d.ControlsChanged[0].ControlID != "aws-root-mfa" ||
		len(d.NotificationsRemoved) != 1 {
		t.Fatalf("diff %+v", d)
	}
	p, err := f.svc.GetProduct(ctx, "secure-baseline")
	if err != nil || p.Latest != "1.1.0" || len(p.Versions) != 2 || p.Versions[0].Version != "1.1.0" {
		t.Fatalf("product %+v %v", p, err)
	}
}

func TestUnifiedDiff(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, a, b, want string }{
		{"ok/equal", "a\nb\n", "a\nb\n", ""},
		{"ok/change", "a\nb\nc\n", "a\nx\nc\n", "--- A\n+++ B\n@@ -1,3 +1,3 @@\n a\n-b\n+x\n c\n"},
		{"ok/append", "a\n", "a\nb\n", "--- A\n+++ B\n@@ -1 +1,2 @@\n a\n+b\n"},
		{"ok/from-empty", "", "a\n", "--- A\n+++ B\n@@ -0,0 +1 @@\n+a\n"},
		{"ok/two-hunks", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n", "1\nX\n3\n4\n5\n6\n7\n8\n9\n10\nY\n12\n",
			"--- A\n+++ B\n@@ -1,5 +1,5 @@\n 1\n-2\n+X\n 3\n 4\n 5\n@@ -8,5 +8,5 @@\n 8\n 9\n 10\n-11\n+Y\n 12\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := baseline.UnifiedDiff("A", "B", tc.a, tc.b); got != tc.want {
				t.Fatalf("got\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

func TestDeploy(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := setup(t, db)
		if _, _, err := f.svc.Publish(ctx, "p-central", "secure-baseline", "1.0.0", goodSpec(t)); err != nil {
			t.Fatal(err)
		}
		// No session, someone else's session, an expired one: refused.
		if _, err := f.svc.Deploy(ctx, "p-admin", "env-aws", baseline.DeployRequest{SessionID: "bls-none", Product: "secure-baseline", Version: "1.0.0"}); fault.KindOf(err) != fault.Forbidden {
			t.Fatalf("without a session: %v", err)
		}
		if _, err := f.svc.StartSession(ctx, "p-admin", "env-aws", "password", nil); fault.KindOf(err) != fault.Forbidden {
			t.Fatalf("unconfirmed session: %v", err)
		}
		if _, err := f.svc.StartSession(ctx, "p-admin", "env-new", baseline.ConfirmedWebAuthn, nil); fault.KindOf(err) != fault.Conflict {
			t.Fatalf("session for an environment not ready: %v", err)
		}
		notHolder := func(context.Context, string, string) (bool, error) { return false, nil }
		if _, err := f.svc.StartSession(ctx, "p-admin", "env-aws", baseline.ConfirmedWebAuthn, notHolder); fault.KindOf(err) != fault.Forbidden {
			t.Fatalf("session without the Administrator set: %v", err)
		}
		ss, err := f.svc.StartSession(ctx, "p-admin", "env-aws", baseline.ConfirmedCard, nil)
		if err != nil {
			t.Fatal(err)
		}
		req := baseline.DeployRequest{SessionID: ss.ID, Product: "secure-baseline", Version: "1.0.0"}
		if _, err := f.svc.Deploy(ctx, "p-other-admin", "env-aws", req); fault.KindOf(err) != fault.Forbidden {
			t.Fatalf("another person's session: %v", err)
		}
		if _, err := f.svc.Deploy(ctx, "p-admin", "env-os", req); fault.KindOf(err) != fault.Forbidden {
			t.Fatalf("a session of another environment: %v", err)
		}
		d, err := f.svc.Deploy(ctx, "p-admin", "env-aws", req)
		if err != nil {
			t.Fatal(err)
		}
		if d.State != baseline.Succeeded || d.Operation != "create" || d.StackStatus != "CREATE_COMPLETE" || d.DeployedBy != "p-admin" {
			t.Fatalf("deployment %+v", d)
		}
		st, err := f.svc.Status(ctx, "env-aws")
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Adoptions) != 1 || st.Adoptions[0].Version != "1.0.0" || st.Adoptions[0].Drift != baseline.InSync || st.Adoptions[0].UpdateAvailable {
			t.Fatalf("status %+v", st)
		}
		// A new version is an update available, then an update.
		next := goodSpec(t)
		next.Template += "# 1.1.0\n"
		next.Changelog = "A comment."
		if _, _, err := f.svc.Publish(ctx, "p-central", "secure-baseline", "1.1.0", next); err != nil {
			t.Fatal(err)
		}
		if st, _ = f.svc.Status(ctx, "env-aws"); !st.Adoptions[0].UpdateAvailable || st.Adoptions[0].Latest != "1.1.0" {
			t.Fatalf("update not offered: %+v", st.Adoptions)
		}
		req.Version = "1.1.0"
		if d, err = f.svc.Deploy(ctx, "p-admin", "env-aws", req); err != nil || d.Operation != "update" || d.State != baseline.Succeeded {
			t.Fatalf("update: %v %+v", err, d)
		}
		// Changed outside hatoba: drift.
		f.stacks.mu.Lock()
		f.stacks.stacks["arn:stack/111122223333/"+baseline.StackName("secure-baseline")].template += "# by hand\n"
		f.stacks.mu.Unlock()
		if st, _ = f.svc.Status(ctx, "env-aws"); st.Adoptions[0].Drift != baseline.Drifted || st.Adoptions[0].Version != "1.1.0" || len(st.Deployments) != 2 {
			t.Fatalf("drift not seen: %+v", st)
		}
		// The session lapses.
		f.clock.add(baseline.DefaultSessionTTL)
		if _, err := f.svc.Deploy(ctx, "p-admin", "env-aws", req); fault.KindOf(err) != fault.Forbidden {
			t.Fatalf("expired session: %v", err)
		}
		// OpenStack says it cannot, clearly.
		ss2, err := f.svc.StartSession(ctx, "p-admin", "env-os", baseline.ConfirmedWebAuthn, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.svc.Deploy(ctx, "p-admin", "env-os", baseline.DeployRequest{SessionID: ss2.ID, Product: "secure-baseline", Version: "1.1.0"})
		if fault.KindOf(err) != fault.Invalid || !strings.Contains(err.Error(), "does not support deploying baselines") {
			t.Fatalf("openstack: %v", err)
		}
		// A provider refusal ends the deployment failed, with its reason.
		f.stacks.fail = &provider.Error{Class: provider.Permanent, Op: "CreateStack", Code: "ValidationError", Err: errors.New("api error ValidationError: Template format error")}
		ss3, _ := f.svc.StartSession(ctx, "p-admin", "env-aws", baseline.ConfirmedWebAuthn, nil)
		d, err = f.svc.Deploy(ctx, "p-admin", "env-aws", baseline.DeployRequest{SessionID: ss3.ID, Product: "secure-baseline", Version: "1.0.0"})
		if err != nil || d.State != baseline.Failed || !strings.Contains(d.Reason, "Template format error") {
			t.Fatalf("failed deployment: %v %+v", err, d)
		}
		if st, _ = f.svc.Status(ctx, "env-aws"); st.Adoptions[0].Version != "1.1.0" {
			t.Fatalf("a failed deployment changed the adoption: %+v", st.Adoptions)
		}
		for action, want := range map[string]string{"baseline.session.start": "p-admin,p-admin,p-admin", "baseline.deploy": "p-admin,p-admin,p-admin",
			"baseline.deploy.succeeded": "p-admin,p-admin", "baseline.deploy.failed": "p-admin"} {
			if got := audited(t, db, action); got != want {
				t.Errorf("%s audited as %q, want %q", action, got, want)
			}
		}
	})
}
