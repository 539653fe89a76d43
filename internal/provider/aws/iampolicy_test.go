package aws_test

import (
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/provider"
	awsdriver "github.com/hatoba-cloud/hatoba/internal/provider/aws"
	"github.com/hatoba-cloud/hatoba/internal/simcloud"
)

// clientServices maps the driver's client fields to IAM's service
// prefixes.
var clientServices = map[string]string{"org": "organizations", "sso": "sso", "ids": "identitystore", "accts": "account", "kms": "kms", "config": "config", "s3": "s3"}

// iamNames are the IAM actions of operations IAM names otherwise (S3's
// bucket subresources, ListObjectsV2's ListBucket).
var iamNames = map[string]string{
	"s3:PutObjectLockConfiguration": "s3:PutBucketObjectLockConfiguration",
	"s3:GetObjectLockConfiguration": "s3:GetBucketObjectLockConfiguration",
	"s3:ListObjectsV2":              "s3:ListBucket",
}

// alongside are actions AWS requires besides an operation's own, as its
// API reference documents them: CreateKey with Tags needs kms:TagResource.
// CreateBucket with Object Lock enabled needs
// s3:PutBucketObjectLockConfiguration and s3:PutBucketVersioning.
var alongside = map[string][]string{"kms:CreateKey": {"kms:TagResource"},
	"s3:CreateBucket": {"s3:PutBucketObjectLockConfiguration", "s3:PutBucketVersioning"}}

// calledActions reads the driver's source for every AWS operation it can
// call: d.<client>.<Operation>(…) and <service>.New<Operation>Paginator(d.<client>, …).
func calledActions(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]bool{}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			// d.<client>.<Operation>
			if inner, ok := sel.X.(*ast.SelectorExpr); ok {
				if id, ok := inner.X.(*ast.Ident); ok && id.Name == "d" {
					if svc, ok := clientServices[inner.Sel.Name]; ok {
						set[svc+":"+sel.Sel.Name] = true
					}
				}
			}
			// <service>.New<Operation>Paginator(d.<client>, …)
			if op, ok := strings.CutPrefix(sel.Sel.Name, "New"); ok && strings.HasSuffix(op, "Paginator") && len(call.Args) > 0 {
				if arg, ok := call.Args[0].(*ast.SelectorExpr); ok {
					if svc, ok := clientServices[arg.Sel.Name]; ok {
						set[svc+":"+strings.TrimSuffix(op, "Paginator")] = true
					}
				}
			}
			return true
		})
	}
	for a := range set {
		if iam, ok := iamNames[a]; ok {
			delete(set, a)
			set[iam] = true
		}
	}
	for a := range set {
		for _, extra := range alongside[a] {
			set[extra] = true
		}
	}
	out := make([]string, 0, len(set))
	for a := range set {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

type policyDocument struct {
	Version   string
	Statement []struct {
		Sid      string
		Effect   string
		Action   []string
		Resource any
	}
}

func policyActions(t *testing.T) []string {
	t.Helper()
	var doc policyDocument
	if err := json.Unmarshal([]byte(awsdriver.IAMPolicy), &doc); err != nil {
		t.Fatalf("iampolicy.json: %v", err)
	}
	if doc.Version != "2012-10-17" {
		t.Fatalf("iampolicy.json: Version %q", doc.Version)
	}
	var out []string
	for _, st := range doc.Statement {
		if st.Effect != "Allow" || st.Sid == "" {
			t.Fatalf("statement %+v: every statement allows, and has a Sid saying what for", st)
		}
		for _, a := range st.Action {
			if strings.Contains(a, "*") {
				t.Fatalf("%s: no wildcards in a least-privilege policy", a)
			}
			out = append(out, a)
		}
	}
	slices.Sort(out)
	if c := slices.Compact(slices.Clone(out)); len(c) != len(out) {
		t.Fatalf("an action is listed twice: %v", out)
	}
	return out
}

// TestIAMPolicyIsExactlyWhatTheDriverCalls: the policy allows every action
// the driver's code can call and nothing else.
func TestIAMPolicyIsExactlyWhatTheDriverCalls(t *testing.T) {
	t.Parallel()
	called, allowed := calledActions(t), policyActions(t)
	if len(called) < 40 {
		t.Fatalf("only %d calls found in the driver's code; the reader is broken", len(called))
	}
	for _, a := range called {
		if !slices.Contains(allowed, a) {
			t.Errorf("the driver calls %s, which iampolicy.json does not allow", a)
		}
	}
	for _, a := range allowed {
		if !slices.Contains(called, a) {
			t.Errorf("iampolicy.json allows %s, which the driver never calls", a)
		}
	}
	// docs/aws.md shows the same document.
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "aws.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range allowed {
		if !strings.Contains(string(doc), `"`+a+`"`) {
			t.Errorf("docs/aws.md does not show %s", a)
		}
	}
}

// recording notes the AWS action of every request the driver sends.
type recording struct {
	next http.RoundTripper
	mu   sync.Mutex
	seen map[string]bool
}

func (r *recording) RoundTrip(req *http.Request) (*http.Response, error) {
	action := ""
	if target := req.Header.Get("X-Amz-Target"); target != "" {
		prefix, op, _ := strings.Cut(target, ".")
		svc := map[string]string{"AWSOrganizationsV20161128": "organizations", "SWBExternalService": "sso", "AWSIdentityStore": "identitystore",
			"TrentService": "kms", "StarlingDoveService": "config"}[prefix]
		action = svc + ":" + op
	} else if rest, ok := strings.CutPrefix(req.URL.Path, "/s3/"); ok {
		action = s3Action(req.Method, rest, req.URL.Query())
	} else if p := strings.TrimPrefix(req.URL.Path, "/"); p != "" {
		action = "account:" + strings.ToUpper(p[:1]) + p[1:]
	}
	r.mu.Lock()
	r.seen[action] = true
	r.mu.Unlock()
	return r.next.RoundTrip(req)
}

// s3Action is the IAM action of an S3 request to path-style /B[/KEY].
func s3Action(method, rest string, q url.Values) string {
	_, key, _ := strings.Cut(rest, "/")
	switch {
	case key != "" && method == http.MethodPut:
		return "s3:PutObject"
	case q.Has("object-lock") && method == http.MethodPut:
		return "s3:PutBucketObjectLockConfiguration"
	case q.Has("object-lock"):
		return "s3:GetBucketObjectLockConfiguration"
	case q.Has("tagging") && method == http.MethodPut:
		return "s3:PutBucketTagging"
	case q.Has("tagging"):
		return "s3:GetBucketTagging"
	case method == http.MethodPut:
		return "s3:CreateBucket"
	}
	return "s3:ListBucket"
}

// TestIAMPolicyCoversARecordedRun: what the driver actually sent during a
// vending, a membership change, an inventory read and a closure against
// the simulated cloud is allowed by the policy — a call made some other
// way than the reader above understands fails here.
func TestIAMPolicyCoversARecordedRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sim, err := simcloud.Open(simcloud.Config{AccessKeyID: "AKIDTEST", SecretAccessKey: "test-secret", Latency: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(func() { srv.Close(); _ = sim.Close() })
	rec := &recording{next: http.DefaultTransport, seen: map[string]bool{}}
	d, err := awsdriver.New(ctx, awsdriver.Config{Name: "sim", Region: "ap-northeast-1", Endpoint: srv.URL, AccessKeyID: "AKIDTEST",
		SecretAccessKey: "test-secret", HTTPClient: &http.Client{Transport: rec}, RetryBase: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	spec := provider.AccountSpec{Name: "recorded", Email: "recorded@sim.hatoba.invalid"}
	reqID, err := d.CreateAccount(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.FindAccount(ctx, spec); err != nil {
		t.Fatal(err)
	}
	acct := waitCreated(t, d, reqID).AccountID
	unit, err := d.EnsureUnit(ctx, []string{"local", "13-tokyo"})
	if err != nil {
		t.Fatal(err)
	}
	steps := []func() error{
		func() error { return d.MoveAccount(ctx, acct, unit) },
		func() error {
			return d.AttachPolicies(ctx, acct, []provider.Policy{{Name: "hatoba-a", Description: "a", Document: policyDoc}})
		},
		func() error {
			return d.SetPolicies(ctx, acct, "hatoba-", []provider.Policy{{Name: "hatoba-b", Description: "b", Document: policyDoc}})
		},
		func() error {
			return d.AssignAccess(ctx, acct, provider.Access{AdminGroup: "r-admins", MemberGroup: "r-members"})
		},
		func() error {
			return d.AddGroupMember(ctx, "r-members", provider.Person{ID: "p-1", DisplayName: "山田 太郎"})
		},
		func() error { return d.RemoveGroupMember(ctx, "r-members", "p-1") },
		func() error {
			return d.SetBillingContact(ctx, acct, provider.Contact{Name: "n", Title: "Billing", Email: "a@b.example", Phone: "+81-3-0000-0000"})
		},
		func() error { return d.TagAccount(ctx, acct, map[string]string{"hatoba:environment": "env1"}) },
		func() error { _, err := d.ListResources(ctx, acct); return err },
		func() error {
			_, err := d.EnsureBackupBucket(ctx, provider.BackupBucketSpec{Name: "hatoba-backup-recorded", LockMode: "COMPLIANCE", RetentionDays: 1,
				Tags: map[string]string{"hatoba:environment": "env1"}})
			return err
		},
		func() error { _, _, err := d.DescribeBackupBucket(ctx, "hatoba-backup-recorded", 5); return err },
		func() error { return d.CloseAccount(ctx, acct) },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	allowed := policyActions(t)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.seen) < 25 {
		t.Fatalf("only %d actions recorded: %v", len(rec.seen), rec.seen)
	}
	for a := range rec.seen {
		if !slices.Contains(allowed, a) {
			t.Errorf("the driver sent %s, which iampolicy.json does not allow", a)
		}
	}
}
