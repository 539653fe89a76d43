package simcloud_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/hatoba-cloud/hatoba/internal/simcloud"
)

const (
	keyID  = "AKIDTEST"
	secret = "test-secret"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// clock is a settable time source shared by a test and its simulated cloud.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func open(t *testing.T, cfg simcloud.Config) *simcloud.Server {
	t.Helper()
	if cfg.AccessKeyID == "" {
		cfg.AccessKeyID, cfg.SecretAccessKey = keyID, secret
	}
	cfg.Logger = quiet
	s, err := simcloud.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

type answer struct {
	Status int
	Type   string
	Reason string
	Body   map[string]any
}

// call sends one signed awsJson1.1 request as the SDK would.
func call(t testing.TB, h http.Handler, service, target, body string, at time.Time, mutate ...func(*http.Request)) answer {
	t.Helper()
	req := httptest.NewRequest("POST", "http://sim.local/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", target)
	hash := sha256.Sum256([]byte(body))
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret}, req,
		hex.EncodeToString(hash[:]), service, signingRegion(service), at)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mutate {
		m(req)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	a := answer{Status: rec.Code, Type: rec.Header().Get("X-Amzn-ErrorType")}
	_ = json.Unmarshal(rec.Body.Bytes(), &a.Body)
	if r, ok := a.Body["Reason"].(string); ok {
		a.Reason = r
	}
	return a
}

const orgs = "AWSOrganizationsV20161128."

// signingRegion is the region each service signs for as the SDK would
// sign it: global services in us-east-1, the others where the simulated
// cloud runs.
func signingRegion(service string) string {
	if service == "organizations" || service == "account" {
		return simcloud.GlobalRegion
	}
	return "ap-northeast-1"
}

func TestRequestsAreAuthenticatedAndStrict(t *testing.T) {
	t.Parallel()
	now := time.Now()
	h := open(t, simcloud.Config{Now: func() time.Time { return now }}).Handler()
	tests := []struct {
		name              string
		service, target   string
		body              string
		at                time.Time
		mutate            func(*http.Request)
		wantStatus        int
		wantType, wantWhy string
	}{
		{name: "valid call", service: "organizations", target: orgs + "ListRoots", body: `{}`, wantStatus: 200},
		{name: "unsigned", service: "organizations", target: orgs + "ListRoots", body: `{}`,
			mutate: func(r *http.Request) { r.Header.Del("Authorization") }, wantStatus: 403, wantType: "MissingAuthenticationTokenException"},
		{name: "body changed after signing", service: "organizations", target: orgs + "ListRoots", body: `{}`,
			mutate: func(r *http.Request) { r.Body = io.NopCloser(strings.NewReader(`{"MaxResults":1}`)) }, wantStatus: 403, wantType: "InvalidSignatureException"},
		{name: "signed an hour ago", service: "organizations", target: orgs + "ListRoots", body: `{}`, at: now.Add(-time.Hour),
			wantStatus: 403, wantType: "InvalidSignatureException"},
		{name: "signed for another service", service: "sso", target: orgs + "ListRoots", body: `{}`, wantStatus: 403, wantType: "InvalidSignatureException"},
		{name: "unknown operation", service: "organizations", target: orgs + "LeaveOrganization", body: `{}`, wantStatus: 400, wantType: "UnknownOperationException"},
		{name: "wrong content type", service: "organizations", target: orgs + "ListRoots", body: `{}`,
			mutate: func(r *http.Request) { r.Header.Set("Content-Type", "application/json") }, wantStatus: 400, wantType: "SerializationException"},
		{name: "unknown field", service: "organizations", target: orgs + "ListRoots", body: `{"Root":"x"}`, wantStatus: 400, wantType: "SerializationException"},
		{name: "not JSON", service: "organizations", target: orgs + "ListRoots", body: `{`, wantStatus: 400, wantType: "SerializationException"},
		{name: "missing e-mail", service: "organizations", target: orgs + "CreateAccount", body: `{"AccountName":"a"}`,
			wantStatus: 400, wantType: "InvalidInputException", wantWhy: "INPUT_REQUIRED"},
		{name: "bad e-mail", service: "organizations", target: orgs + "CreateAccount", body: `{"AccountName":"a","Email":"nobody@here"}`,
			wantStatus: 400, wantType: "InvalidInputException", wantWhy: "INVALID_EMAIL_ADDRESS_TARGET"},
		{name: "account name too long", service: "organizations", target: orgs + "CreateAccount",
			body: `{"AccountName":"` + strings.Repeat("a", 51) + `","Email":"a@b.example"}`, wantStatus: 400, wantType: "InvalidInputException", wantWhy: "MAX_LENGTH_EXCEEDED"},
		{name: "malformed account id", service: "organizations", target: orgs + "DescribeAccount", body: `{"AccountId":"12"}`,
			wantStatus: 400, wantType: "InvalidInputException", wantWhy: "INVALID_PATTERN"},
		{name: "unknown account", service: "organizations", target: orgs + "DescribeAccount", body: `{"AccountId":"123456789012"}`,
			wantStatus: 400, wantType: "AccountNotFoundException"},
		{name: "policy that is not a policy", service: "organizations", target: orgs + "CreatePolicy",
			body: `{"Name":"p","Description":"d","Type":"SERVICE_CONTROL_POLICY","Content":"allow everything"}`, wantStatus: 400, wantType: "MalformedPolicyDocumentException"},
		{name: "forged next token", service: "organizations", target: orgs + "ListAccounts", body: `{"NextToken":"!!"}`,
			wantStatus: 400, wantType: "InvalidInputException", wantWhy: "INVALID_NEXT_TOKEN"},
		{name: "unknown identity store", service: "identitystore", target: "AWSIdentityStore.CreateGroup", body: `{"IdentityStoreId":"d-0000000000","DisplayName":"g"}`,
			wantStatus: 400, wantType: "ResourceNotFoundException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := tt.at
			if at.IsZero() {
				at = now
			}
			var mutate []func(*http.Request)
			if tt.mutate != nil {
				mutate = append(mutate, tt.mutate)
			}
			got := call(t, h, tt.service, tt.target, tt.body, at, mutate...)
			if got.Status != tt.wantStatus || got.Type != tt.wantType || got.Reason != tt.wantWhy {
				t.Fatalf("got %d %s %s %v, want %d %s %s", got.Status, got.Type, got.Reason, got.Body, tt.wantStatus, tt.wantType, tt.wantWhy)
			}
		})
	}
}

// TestCreationIsAsynchronousAndLimited checks the creation rules the
// vending workflow depends on: latency, the concurrent-creation limit and
// the duplicate e-mail failure.
func TestCreationIsAsynchronousAndLimited(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Now()}
	s := open(t, simcloud.Config{Latency: time.Minute, ConcurrentCreations: 2, Now: clk.Now})
	h := s.Handler()
	create := func(name, email string) answer {
		return call(t, h, "organizations", orgs+"CreateAccount", `{"AccountName":"`+name+`","Email":"`+email+`"}`, clk.Now())
	}
	first := create("a", "same@x.example")
	second := create("b", "SAME@x.example")
	if first.Status != 200 || second.Status != 200 {
		t.Fatalf("creates: %+v %+v", first, second)
	}
	if third := create("c", "c@x.example"); third.Type != "ConstraintViolationException" || third.Reason != "ACCOUNT_CREATION_RATE_LIMIT_EXCEEDED" {
		t.Fatalf("third create beyond the limit of 2: %+v", third)
	}
	status := func(a answer) map[string]any {
		id := a.Body["CreateAccountStatus"].(map[string]any)["Id"].(string)
		got := call(t, h, "organizations", orgs+"DescribeCreateAccountStatus", `{"CreateAccountRequestId":"`+id+`"}`, clk.Now())
		return got.Body["CreateAccountStatus"].(map[string]any)
	}
	if st := status(first); st["State"] != "IN_PROGRESS" {
		t.Fatalf("before the latency: %v", st)
	}
	clk.Add(time.Minute)
	if st := status(first); st["State"] != "SUCCEEDED" || len(st["AccountId"].(string)) != 12 {
		t.Fatalf("after the latency: %v", st)
	}
	if st := status(second); st["State"] != "FAILED" || st["FailureReason"] != "CONCURRENT_ACCOUNT_MODIFICATION" {
		t.Fatalf("an e-mail in flight: %v", st)
	}
	if got := s.Stats(); got.Accounts != 1 || got.MaxConcurrentObserved != 2 || got.CreateCalls != 3 {
		t.Fatalf("stats %+v", got)
	}
}

// TestStateSurvivesRestart: the simulated cloud's database is the truth, so
// a restarted simulated cloud finishes creations that were in flight and
// keeps its ids.
func TestStateSurvivesRestart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sim.db")
	clk := &clock{t: time.Now()}
	first, err := simcloud.Open(simcloud.Config{DBPath: path, Latency: time.Minute, AccessKeyID: keyID, SecretAccessKey: secret, Now: clk.Now, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	roots := call(t, first.Handler(), "organizations", orgs+"ListRoots", `{}`, clk.Now())
	if a := call(t, first.Handler(), "organizations", orgs+"CreateAccount", `{"AccountName":"a","Email":"a@x.example"}`, clk.Now()); a.Status != 200 {
		t.Fatal(a)
	}
	first.Close()
	clk.Add(2 * time.Minute)
	second := open(t, simcloud.Config{DBPath: path, Now: clk.Now})
	if got := second.Stats(); got.Accounts != 1 || got.InProgress != 0 {
		t.Fatalf("after restart: %+v", got)
	}
	again := call(t, second.Handler(), "organizations", orgs+"ListRoots", `{}`, clk.Now())
	if !bytes.Equal(mustJSON(roots.Body), mustJSON(again.Body)) {
		t.Fatalf("root changed across restart: %v vs %v", roots.Body, again.Body)
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func TestInspectionEndpoints(t *testing.T) {
	t.Parallel()
	h := open(t, simcloud.Config{}).Handler()
	for _, path := range []string{"/_simcloud/stats", "/_simcloud/healthz"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != 200 {
			t.Fatalf("%s: %d", path, rec.Code)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/nothing", nil))
	if rec.Code != 404 || rec.Header().Get("X-Amzn-ErrorType") != "UnknownOperationException" {
		t.Fatalf("unknown path: %d %s", rec.Code, rec.Header())
	}
}

// FuzzHandler sends arbitrary, correctly signed operations: the simulated
// cloud must answer every one with a client error or success, never a
// server error or a crash, since it has no injected failures here.
func FuzzHandler(f *testing.F) {
	for _, seed := range []struct{ target, body string }{
		{orgs + "CreateAccount", `{"AccountName":"a","Email":"a@b.example"}`},
		{orgs + "CreateOrganizationalUnit", `{"ParentId":"r-abcd","Name":"x"}`},
		{orgs + "TagResource", `{"ResourceId":"123456789012","Tags":[{"Key":"k","Value":"v"}]}`},
		{orgs + "ListAccounts", `{"MaxResults":0}`},
		{"SWBExternalService.CreatePermissionSet", `{"InstanceArn":"x","Name":"Administrator"}`},
		{"AWSIdentityStore.GetGroupId", `{"IdentityStoreId":"d-0123456789","AlternateIdentifier":{"UniqueAttribute":{"AttributePath":"displayName","AttributeValue":7}}}`},
		{"AWSIdentityStore.CreateUser", `{"IdentityStoreId":"d-0123456789","UserName":"p-1","DisplayName":"a b","Name":{"FamilyName":"a","GivenName":"b"}}`},
		{"AWSIdentityStore.CreateGroupMembership", `{"IdentityStoreId":"d-0123456789","GroupId":"x","MemberId":{"UserId":null}}`},
		{"AWSIdentityStore.DeleteGroupMembership", `{"IdentityStoreId":"d-0123456789","MembershipId":""}`},
	} {
		f.Add(seed.target, seed.body)
	}
	now := time.Now()
	s, err := simcloud.Open(simcloud.Config{AccessKeyID: keyID, SecretAccessKey: secret, Logger: quiet, Now: func() time.Time { return now }})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = s.Close() })
	h := s.Handler()
	f.Fuzz(func(t *testing.T, target, body string) {
		service := "organizations"
		switch {
		case strings.HasPrefix(target, "SWBExternalService."):
			service = "sso"
		case strings.HasPrefix(target, "AWSIdentityStore."):
			service = "identitystore"
		}
		got := call(t, h, service, target, body, now)
		if got.Status >= 500 {
			t.Fatalf("%s %q: %d %v", target, body, got.Status, got.Body)
		}
	})
}

// TestListsPage: ListAccounts answers at most 20 per page with a NextToken
// that leads through all of them exactly once.
func TestListsPage(t *testing.T) {
	t.Parallel()
	now := time.Now()
	h := open(t, simcloud.Config{ConcurrentCreations: 100, Now: func() time.Time { return now }}).Handler()
	for i := range 45 {
		body := fmt.Sprintf(`{"AccountName":"a%d","Email":"a%d@x.example"}`, i, i)
		if got := call(t, h, "organizations", orgs+"CreateAccount", body, now); got.Status != 200 {
			t.Fatal(got)
		}
	}
	seen := map[string]bool{}
	token, pages := "", 0
	for {
		body := `{}`
		if token != "" {
			body = `{"NextToken":"` + token + `"}`
		}
		got := call(t, h, "organizations", orgs+"ListAccounts", body, now)
		accounts := got.Body["Accounts"].([]any)
		if len(accounts) > 20 {
			t.Fatalf("page of %d accounts", len(accounts))
		}
		for _, a := range accounts {
			id := a.(map[string]any)["Id"].(string)
			if seen[id] {
				t.Fatalf("account %s listed twice", id)
			}
			seen[id] = true
		}
		pages++
		next, _ := got.Body["NextToken"].(string)
		if next == "" {
			break
		}
		token = next
	}
	if len(seen) != 45 || pages != 3 {
		t.Fatalf("%d accounts in %d pages, want 45 in 3", len(seen), pages)
	}
}

// TestGroupMemberships walks the Identity Store operations the driver uses
// to put a person into a group and take them out, in order, with AWS's
// answers to repeats and mistakes: the driver's idempotence rests on them.
func TestGroupMemberships(t *testing.T) {
	t.Parallel()
	now := time.Now()
	h := open(t, simcloud.Config{Now: func() time.Time { return now }}).Handler()
	inst := call(t, h, "sso", "SWBExternalService.ListInstances", `{}`, now)
	storeID := inst.Body["Instances"].([]any)[0].(map[string]any)["IdentityStoreId"].(string)
	const ids = "AWSIdentityStore."
	// Steps may refer to ids earlier steps returned: {group}, {user}, {membership}.
	got := map[string]string{"{store}": storeID}
	fill := func(s string) string {
		for k, v := range got {
			s = strings.ReplaceAll(s, k, v)
		}
		return s
	}
	const user = `"IdentityStoreId":"{store}","UserName":"p-abc","DisplayName":"山田 太郎","Name":{"Formatted":"山田 太郎","FamilyName":"山田","GivenName":"太郎"}`
	const member = `"IdentityStoreId":"{store}","GroupId":"{group}","MemberId":{"UserId":"{user}"}`
	steps := []struct {
		name, op, body   string
		wantType, reason string
		resourceType     string
		keep             map[string]string // {name} → response field to remember
	}{
		{name: "ok/create group", op: "CreateGroup", body: `{"IdentityStoreId":"{store}","DisplayName":"hatoba-env-1-members"}`, keep: map[string]string{"{group}": "GroupId"}},
		{name: "fail/unknown user", op: "GetUserId", body: `{"IdentityStoreId":"{store}","AlternateIdentifier":{"UniqueAttribute":{"AttributePath":"userName","AttributeValue":"p-abc"}}}`,
			wantType: "ResourceNotFoundException", resourceType: "USER"},
		{name: "fail/user without a name", op: "CreateUser", body: `{"IdentityStoreId":"{store}","UserName":"p-abc","DisplayName":"山田 太郎"}`, wantType: "ValidationException"},
		{name: "fail/reserved user name", op: "CreateUser", body: `{` + strings.Replace(user, "p-abc", "administrator", 1) + `}`, wantType: "ValidationException"},
		{name: "fail/user name with a space", op: "CreateUser", body: `{` + strings.Replace(user, "p-abc", "p abc", 1) + `}`, wantType: "ValidationException"},
		{name: "fail/unknown field", op: "CreateUser", body: `{` + user + `,"Nickname":"taro"}`, wantType: "SerializationException"},
		{name: "ok/create user", op: "CreateUser", body: `{` + user + `,"Emails":[{"Value":"yamada@example.lg.jp","Type":"work","Primary":true}]}`, keep: map[string]string{"{user}": "UserId"}},
		{name: "fail/same user name again", op: "CreateUser", body: `{` + user + `}`, wantType: "ConflictException", reason: "UNIQUENESS_CONSTRAINT_VIOLATION"},
		{name: "ok/find user by userName", op: "GetUserId", body: `{"IdentityStoreId":"{store}","AlternateIdentifier":{"UniqueAttribute":{"AttributePath":"userName","AttributeValue":"p-abc"}}}`},
		{name: "fail/not a member yet", op: "GetGroupMembershipId", body: `{` + member + `}`, wantType: "ResourceNotFoundException", resourceType: "GROUP_MEMBERSHIP"},
		{name: "fail/unknown group", op: "CreateGroupMembership", body: `{` + strings.Replace(member, "{group}", "00000000-0000-4000-8000-000000000000", 1) + `}`,
			wantType: "ResourceNotFoundException", resourceType: "GROUP"},
		{name: "fail/malformed group id", op: "CreateGroupMembership", body: `{` + strings.Replace(member, "{group}", "g-1", 1) + `}`, wantType: "ValidationException"},
		{name: "ok/add to group", op: "CreateGroupMembership", body: `{` + member + `}`, keep: map[string]string{"{membership}": "MembershipId"}},
		{name: "fail/add again", op: "CreateGroupMembership", body: `{` + member + `}`, wantType: "ConflictException", reason: "UNIQUENESS_CONSTRAINT_VIOLATION"},
		{name: "ok/find membership", op: "GetGroupMembershipId", body: `{` + member + `}`},
		{name: "ok/remove", op: "DeleteGroupMembership", body: `{"IdentityStoreId":"{store}","MembershipId":"{membership}"}`},
		{name: "fail/remove again", op: "DeleteGroupMembership", body: `{"IdentityStoreId":"{store}","MembershipId":"{membership}"}`,
			wantType: "ResourceNotFoundException", resourceType: "GROUP_MEMBERSHIP"},
		{name: "fail/gone", op: "GetGroupMembershipId", body: `{` + member + `}`, wantType: "ResourceNotFoundException", resourceType: "GROUP_MEMBERSHIP"},
	}
	for _, st := range steps {
		a := call(t, h, "identitystore", ids+st.op, fill(st.body), now)
		wantStatus := 200
		if st.wantType != "" {
			wantStatus = 400
		}
		rt, _ := a.Body["ResourceType"].(string)
		if a.Status != wantStatus || a.Type != st.wantType || a.Reason != st.reason || rt != st.resourceType {
			t.Fatalf("%s: %d %s reason %q resource %q %v; want %d %s %q %q", st.name, a.Status, a.Type, a.Reason, rt, a.Body,
				wantStatus, st.wantType, st.reason, st.resourceType)
		}
		if a.Status == 200 && a.Body["IdentityStoreId"] != nil && a.Body["IdentityStoreId"] != storeID {
			t.Fatalf("%s: answered for identity store %v", st.name, a.Body["IdentityStoreId"])
		}
		for k, field := range st.keep {
			v, ok := a.Body[field].(string)
			if !ok || v == "" {
				t.Fatalf("%s: no %s in %v", st.name, field, a.Body)
			}
			got[k] = v
		}
	}
}
