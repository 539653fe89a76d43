package aws_test

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/ssoadmin"

	"github.com/hatoba-cloud/hatoba/internal/provider"
	awsdriver "github.com/hatoba-cloud/hatoba/internal/provider/aws"
	"github.com/hatoba-cloud/hatoba/internal/simcloud"
)

// icWorld is a simulated cloud with one account, a driver on it, and a
// plain SDK client for what another replica (or an operator) would do.
type icWorld struct {
	sim     *simcloud.Server
	url     string
	d       *awsdriver.Driver
	account string
	sso     *ssoadmin.Client
	org     *organizations.Client
}

func newICWorld(t *testing.T, cfg simcloud.Config, dcfg awsdriver.Config) *icWorld {
	t.Helper()
	cfg.AccessKeyID, cfg.SecretAccessKey = "AKIDTEST", "test-secret"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	sim, err := simcloud.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(func() { srv.Close(); _ = sim.Close() })
	w := &icWorld{sim: sim, url: srv.URL}
	w.d = w.driver(t, dcfg)
	ac := aws.Config{Region: "ap-northeast-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "test-secret", ""),
		Retryer: func() aws.Retryer { return aws.NopRetryer{} }}
	w.sso = ssoadmin.NewFromConfig(ac, func(o *ssoadmin.Options) { o.BaseEndpoint = aws.String(srv.URL) })
	w.org = organizations.NewFromConfig(ac, func(o *organizations.Options) { o.BaseEndpoint, o.Region = aws.String(srv.URL), "us-east-1" })
	ctx := context.Background()
	reqID, err := w.d.CreateAccount(ctx, provider.AccountSpec{Name: "ic", Email: "ic@sim.hatoba.invalid"})
	for err != nil && provider.ClassOf(err) == provider.Throttling {
		time.Sleep(100 * time.Millisecond)
		reqID, err = w.d.CreateAccount(ctx, provider.AccountSpec{Name: "ic", Email: "ic@sim.hatoba.invalid"})
	}
	if err != nil {
		t.Fatal(err)
	}
	w.account = waitCreated(t, w.d, reqID).AccountID
	return w
}

func (w *icWorld) driver(t *testing.T, dcfg awsdriver.Config) *awsdriver.Driver {
	t.Helper()
	dcfg.Name, dcfg.Region, dcfg.Endpoint, dcfg.AccessKeyID, dcfg.SecretAccessKey = "sim", "ap-northeast-1", w.url, "AKIDTEST", "test-secret"
	if dcfg.RetryBase == 0 {
		dcfg.RetryBase = 20 * time.Millisecond
	}
	d, err := awsdriver.New(context.Background(), dcfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

var access = provider.Access{AdminGroup: "env1-admins", MemberGroup: "env1-members"}

func (w *icWorld) wantAssigned(t *testing.T) {
	t.Helper()
	got, err := w.sim.AccountAssignments(context.Background(), w.account)
	if err != nil {
		t.Fatal(err)
	}
	if want := "Administrator=env1-admins,NonAdministrator=env1-members"; strings.Join(got, ",") != want {
		t.Fatalf("assignments = %v, want %s", got, want)
	}
}

// repeat runs f as the workflow would — again after a transient error —
// and fails on any other error or after tries.
func repeat(t *testing.T, tries int, f func() error) {
	t.Helper()
	var err error
	for range tries {
		if err = f(); err == nil {
			return
		}
		if c := provider.ClassOf(err); c == provider.Permanent {
			t.Fatalf("permanent: %v", err)
		}
	}
	t.Fatalf("still failing after %d tries: %v", tries, err)
}

// TestAssignAccessWaitsForAssignments: AWS answers IN_PROGRESS; AssignAccess
// returns only once both assignments exist, and the permission sets grant
// what they mean, provisioned.
func TestAssignAccessWaitsForAssignments(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newICWorld(t, simcloud.Config{AssignmentLatency: 300 * time.Millisecond}, awsdriver.Config{})
	if err := w.d.AssignAccess(ctx, w.account, access); err != nil {
		t.Fatal(err)
	}
	st := w.sim.Stats()
	if st.AssignmentsInProgress != 0 {
		t.Fatalf("AssignAccess returned with %d assignments in progress", st.AssignmentsInProgress)
	}
	w.wantAssigned(t)
	if st.PermissionSetsWithoutPolicies != 0 || st.PermissionSetsNotProvisioned != 0 {
		t.Fatalf("stats = %+v: every set must grant something and be provisioned", st)
	}
	admin, err := w.sim.Grants(ctx, awsdriver.AdministratorSet)
	if err != nil || strings.Join(admin.ManagedPolicies, ",") != "arn:aws:iam::aws:policy/AdministratorAccess" || admin.InlinePolicy != "" {
		t.Fatalf("Administrator grants %+v, %v", admin, err)
	}
	member, err := w.sim.Grants(ctx, awsdriver.NonAdministratorSet)
	if err != nil || len(member.ManagedPolicies) != 0 || !strings.Contains(member.InlinePolicy, `"sts:AssumeRole"`) {
		t.Fatalf("NonAdministrator grants %+v, %v", member, err)
	}
}

// TestAssignAccessRetriesObtainingPermissions: assignments AWS ends FAILED
// with "Obtaining permissions to manage your AWS account" are made again;
// when every one fails the error is transient and names the reason.
func TestAssignAccessRetriesObtainingPermissions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("ok/half fail", func(t *testing.T) {
		t.Parallel()
		w := newICWorld(t, simcloud.Config{AssignmentFailureRate: 0.5, Seed: 7}, awsdriver.Config{})
		repeat(t, 3, func() error { return w.d.AssignAccess(ctx, w.account, access) })
		w.wantAssigned(t)
		if w.sim.Stats().AssignmentFailuresInjected == 0 {
			t.Fatal("no failure was injected; the test proves nothing")
		}
	})
	t.Run("fail/all fail", func(t *testing.T) {
		t.Parallel()
		w := newICWorld(t, simcloud.Config{AssignmentFailureRate: 1}, awsdriver.Config{})
		err := w.d.AssignAccess(ctx, w.account, access)
		var pe *provider.Error
		if !errors.As(err, &pe) || pe.Class != provider.Transient || !strings.Contains(err.Error(), "Obtaining permissions") {
			t.Fatalf("err = %v, want a transient error naming AWS's reason", err)
		}
		if got := w.sim.Stats().AssignmentFailuresInjected; got != 4 {
			t.Fatalf("%d assignments made, want 4 (the driver's tries)", got)
		}
	})
}

// TestPermissionSetPolicies: a connection's own policies replace the
// defaults on the existing sets, and the sets are provisioned again to
// the accounts that hold them; a change made behind the driver's back
// (not provisioned) shows in the simulated cloud's stats and is
// provisioned by the next driver.
func TestPermissionSetPolicies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newICWorld(t, simcloud.Config{AssignmentLatency: 50 * time.Millisecond}, awsdriver.Config{})
	if err := w.d.AssignAccess(ctx, w.account, access); err != nil {
		t.Fatal(err)
	}
	custom := awsdriver.Config{
		Administrator: awsdriver.PermissionSetPolicy{ManagedPolicyARNs: []string{"arn:aws:iam::aws:policy/PowerUserAccess", "arn:aws:iam::aws:policy/IAMFullAccess"},
			PermissionsBoundary: "/boundaries/hatoba-boundary"},
		NonAdministrator: awsdriver.PermissionSetPolicy{ManagedPolicyARNs: []string{"arn:aws:iam::aws:policy/ReadOnlyAccess"},
			InlinePolicy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}`},
	}
	if err := w.driver(t, custom).AssignAccess(ctx, w.account, access); err != nil {
		t.Fatal(err)
	}
	admin, err := w.sim.Grants(ctx, awsdriver.AdministratorSet)
	if err != nil || strings.Join(admin.ManagedPolicies, ",") != "arn:aws:iam::aws:policy/IAMFullAccess,arn:aws:iam::aws:policy/PowerUserAccess" ||
		!strings.Contains(admin.PermissionsBoundary, `"Name":"hatoba-boundary"`) || !strings.Contains(admin.PermissionsBoundary, `"Path":"/boundaries/"`) {
		t.Fatalf("Administrator grants %+v, %v", admin, err)
	}
	if st := w.sim.Stats(); st.PermissionSetsNotProvisioned != 0 || st.PermissionSetsWithoutPolicies != 0 {
		t.Fatalf("after the change: %+v", st)
	}

	// An operator detaches a policy and does not provision.
	sets, err := w.sso.ListPermissionSets(ctx, &ssoadmin.ListPermissionSetsInput{InstanceArn: instanceARN(t, w)})
	if err != nil {
		t.Fatal(err)
	}
	for _, arn := range sets.PermissionSets {
		_, _ = w.sso.DetachManagedPolicyFromPermissionSet(ctx, &ssoadmin.DetachManagedPolicyFromPermissionSetInput{InstanceArn: instanceARN(t, w),
			PermissionSetArn: aws.String(arn), ManagedPolicyArn: aws.String("arn:aws:iam::aws:policy/ReadOnlyAccess")})
	}
	if st := w.sim.Stats(); st.PermissionSetsNotProvisioned != 1 {
		t.Fatalf("a change without provisioning must show: %+v", st)
	}
	if err := w.driver(t, custom).AssignAccess(ctx, w.account, access); err != nil {
		t.Fatal(err)
	}
	if st := w.sim.Stats(); st.PermissionSetsNotProvisioned != 0 {
		t.Fatalf("the next driver must repair and provision: %+v", st)
	}
}

func instanceARN(t *testing.T, w *icWorld) *string {
	t.Helper()
	out, err := w.sso.ListInstances(context.Background(), &ssoadmin.ListInstancesInput{})
	if err != nil || len(out.Instances) != 1 {
		t.Fatalf("ListInstances: %v", err)
	}
	return out.Instances[0].InstanceArn
}

// TestConflictNotYetPropagated: another replica created the set a moment
// ago; it is not listed yet and a creation conflicts. The driver looks
// again until it shows up — it neither fails nor remembers an empty ARN.
func TestConflictNotYetPropagated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newICWorld(t, simcloud.Config{PropagationDelay: 400 * time.Millisecond}, awsdriver.Config{RetryBase: 50 * time.Millisecond})
	for _, name := range []string{awsdriver.AdministratorSet, awsdriver.NonAdministratorSet} {
		if _, err := w.sso.CreatePermissionSet(ctx, &ssoadmin.CreatePermissionSetInput{InstanceArn: instanceARN(t, w), Name: aws.String(name)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.d.AssignAccess(ctx, w.account, access); err != nil {
		t.Fatalf("AssignAccess while the sets propagate: %v", err)
	}
	w.wantAssigned(t)
	sets, err := w.sso.ListPermissionSets(ctx, &ssoadmin.ListPermissionSetsInput{InstanceArn: instanceARN(t, w)})
	if err != nil || len(sets.PermissionSets) != 2 {
		t.Fatalf("permission sets %v, %v; want the two, once each", sets, err)
	}
}

// TestConflictsInjected: with a third of Identity Center's writes refused
// with ConflictException (sso-admin's "in progress", Identity Store's
// CONCURRENT_MODIFICATION), repeating as the workflow does succeeds, and
// a conflict never leaves an empty id behind.
func TestConflictsInjected(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newICWorld(t, simcloud.Config{ConflictRate: 0.3, Seed: 3}, awsdriver.Config{})
	repeat(t, 10, func() error { return w.d.AssignAccess(ctx, w.account, access) })
	w.wantAssigned(t)
	p := provider.Person{ID: "p-conflict", DisplayName: "衝突 太郎"}
	repeat(t, 10, func() error { return w.d.AddGroupMember(ctx, access.MemberGroup, p) })
	if got, err := w.sim.GroupMembers(ctx, access.MemberGroup); err != nil || strings.Join(got, ",") != "p-conflict" {
		t.Fatalf("members %v, %v", got, err)
	}
	if w.sim.Stats().ConflictsInjected == 0 {
		t.Fatal("no conflict was injected; the test proves nothing")
	}
}

// TestIdentityCenterThrottling: at 5 requests a second the driver's
// throttled calls and pages are made again after a pause, and the stable
// lookups are cached, so a second account costs a few calls.
func TestIdentityCenterThrottling(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newICWorld(t, simcloud.Config{IdentityCenterRatePerSecond: 5}, awsdriver.Config{RetryBase: 100 * time.Millisecond})
	if err := w.d.AssignAccess(ctx, w.account, access); err != nil {
		t.Fatal(err)
	}
	w.wantAssigned(t)
	st := w.sim.Stats()
	if st.Throttled == 0 {
		t.Fatal("nothing was throttled; the test proves nothing")
	}
	before := st.Requests - st.Throttled
	if err := w.d.AssignAccess(ctx, w.account, access); err != nil {
		t.Fatal(err)
	}
	st = w.sim.Stats()
	// Two group lookups, two assignments and their status polls.
	if calls := st.Requests - st.Throttled - before; calls > 10 {
		t.Fatalf("a second AssignAccess made %d calls; the instance and the sets must be cached", calls)
	}
}

// TestTagValuesAWSRefuses: system names AWS would refuse as tag values are
// mapped, and the original is kept base64-encoded beside them.
func TestTagValuesAWSRefuses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newICWorld(t, simcloud.Config{}, awsdriver.Config{})
	for name, want := range map[string]string{"住民記録（本番）": "住民記録_本番_", "税・料金": "税_料金", "A&B": "A_B", "tax-system 2": "tax-system 2"} {
		if err := w.d.TagAccount(ctx, w.account, map[string]string{"hatoba:system": name}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out, err := w.org.ListTagsForResource(ctx, &organizations.ListTagsForResourceInput{ResourceId: aws.String(w.account)})
		if err != nil {
			t.Fatal(err)
		}
		tags := map[string]string{}
		for _, tg := range out.Tags {
			tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
		}
		if tags["hatoba:system"] != want {
			t.Fatalf("%s tagged %q, want %q", name, tags["hatoba:system"], want)
		}
		if want != name {
			raw, err := base64.StdEncoding.DecodeString(tags["hatoba:system:base64"])
			if err != nil || string(raw) != name {
				t.Fatalf("%s: base64 tag %q decodes to %q, %v", name, tags["hatoba:system:base64"], raw, err)
			}
		}
	}
}

func TestPermissionSetPolicyValidation(t *testing.T) {
	t.Parallel()
	for name, p := range map[string]awsdriver.PermissionSetPolicy{
		"fail/customer policy ARN": {ManagedPolicyARNs: []string{"arn:aws:iam::123456789012:policy/mine"}},
		"fail/inline not a policy": {InlinePolicy: `{"Statement":[]}`},
		"fail/boundary":            {PermissionsBoundary: "not a name!"},
	} {
		_, err := awsdriver.New(context.Background(), awsdriver.Config{Region: "ap-northeast-1", Endpoint: "http://127.0.0.1:1",
			AccessKeyID: "a", SecretAccessKey: "b", Administrator: p})
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for _, p := range []awsdriver.PermissionSetPolicy{awsdriver.DefaultAdministrator, awsdriver.DefaultNonAdministrator,
		{PermissionsBoundary: "arn:aws:iam::aws:policy/PowerUserAccess"}, {PermissionsBoundary: "hatoba-boundary"}} {
		if err := p.Validate(); err != nil {
			t.Errorf("%+v: %v", p, err)
		}
	}
}
