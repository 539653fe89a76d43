package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/api"
	"github.com/hatoba-cloud/hatoba/internal/api/apitest"
	"github.com/hatoba-cloud/hatoba/internal/assignments"
	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/baseline"
	"github.com/hatoba-cloud/hatoba/internal/breakglass"
	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/identity"
	"github.com/hatoba-cloud/hatoba/internal/keys"
	"github.com/hatoba-cloud/hatoba/internal/notify"
	"github.com/hatoba-cloud/hatoba/internal/org"
	"github.com/hatoba-cloud/hatoba/internal/placement"
	"github.com/hatoba-cloud/hatoba/internal/posture"
	"github.com/hatoba-cloud/hatoba/internal/provider"
	"github.com/hatoba-cloud/hatoba/internal/secrets"
	"github.com/hatoba-cloud/hatoba/internal/sovereignty"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
	"github.com/hatoba-cloud/hatoba/internal/tenantbackup"
	"github.com/hatoba-cloud/hatoba/internal/vending"
)

// TestOpenAPIMatchesRoutes fails when a handler is added without its
// OpenAPI description, or the document describes an endpoint that is gone.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]json.RawMessage `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(api.OpenAPI(), &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	var documented, routed []string
	for path, ops := range doc.Paths {
		for method, op := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+path)
			if _, ok := op.Responses["default"]; !ok && path != "/api/v1/openapi.json" {
				t.Errorf("%s %s: no default (problem) response", method, path)
			}
		}
	}
	for _, r := range api.Routes {
		routed = append(routed, r.Method+" "+r.Pattern)
	}
	sort.Strings(documented)
	sort.Strings(routed)
	if strings.Join(documented, "\n") != strings.Join(routed, "\n") {
		t.Fatalf("routes and OpenAPI differ\nroutes:\n%s\n\nopenapi:\n%s", strings.Join(routed, "\n"), strings.Join(documented, "\n"))
	}
}

// idleProvider is never called: these tests do not start the workers.
type idleProvider struct{ provider.Provider }

type harness struct {
	srv  *httptest.Server
	db   *store.DB
	orgs *org.Registry
	ids  *identity.Service
	// token is the central operator's, used by call unless the test sets
	// an Authorization header itself.
	token      string
	operatorID string

	api *api.Server

	mu     sync.Mutex
	grants map[string][]authz.Grant // break-glass grants by person

	stacks   *fakeStacks // the sim connection's stacks (baselines_test.go)
	auditKey string
}

func newHarness(t *testing.T, d store.Dialect) *harness {
	t.Helper()
	db := storetest.Open(t, d)
	orgs := org.New(db, time.Now)
	ctx := context.Background()
	for _, o := range []org.Organization{
		{ID: "nat-digital", Kind: org.KindNational, NameJa: "デジタル庁", NameEn: "Digital Agency"},
		{ID: "qp-small", Kind: org.KindQuasiPublic, NameJa: "小さな法人", NameEn: "Small Body"},
	} {
		if _, err := orgs.Create(ctx, audit.Acting{Actor: "system"}, o); err != nil {
			t.Fatal(err)
		}
	}
	if err := orgs.SetQuota(ctx, audit.Acting{Actor: "system"}, "qp-small", 1); err != nil {
		t.Fatal(err)
	}
	envs := env.NewStore(db, time.Now)
	places := placement.NewService(db, nil)
	if _, err := places.Seed(ctx, placement.Default()); err != nil {
		t.Fatal(err)
	}
	engine, err := vending.New(db, envs, orgs, vending.Config{Placement: places, Connections: []vending.Connection{
		{Name: "sim", Kind: "sim", Provider: idleProvider{}, Allowed: []env.Classification{env.Level1, env.Level2}},
		{Name: "domestic", Kind: "openstack", Tier: placement.TierDomestic, Provider: idleProvider{}, Allowed: []env.Classification{env.Level1, env.Level2, env.Level3}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{db: db, orgs: orgs}
	h.ids = identity.New(db, identity.Options{SessionTTL: time.Hour, TokenTTL: time.Hour, InvitationTTL: time.Hour}, nil)
	h.operatorID, h.token = h.person(t, authz.CentralOperator, "")
	operatorID := h.operatorID
	s := &api.Server{DB: db, Envs: envs, Orgs: orgs, Vending: engine, Version: "test", Logger: discardLogger(),
		Identity: h.ids, Authz: authz.New(orgs, time.Minute, nil)}
	// The harness's operator works under break-glass grants for both
	// organisations, so it may do everything the tests exercise.
	exp := time.Now().Add(time.Hour)
	h.grants = map[string][]authz.Grant{operatorID: {{ID: "g-nat", OrgID: "nat-digital", Expiry: exp}, {ID: "g-qp", OrgID: "qp-small", Expiry: exp}}}
	s.Grants = func(_ context.Context, personID string) ([]authz.Grant, error) {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.grants[personID], nil
	}
	key, _, err := audit.LoadOrCreateKey(filepath.Join(t.TempDir(), "audit.key"), "test.invalid/audit")
	if err != nil {
		t.Fatal(err)
	}
	s.Audit, s.AuditVerifierKey = audit.New(db, key.Signer, nil), key.VerifierKey
	s.BreakGlass = breakglass.New(db, s.Authz, 8*time.Hour, nil)
	s.Keys = unsealedKeys(t, db)
	s.Secrets = secrets.New(db, s.Keys, nil)
	if s.Catalog, err = controls.OpenCatalog(ctx, controls.NewStore(db, nil)); err != nil {
		t.Fatal(err)
	}
	s.Controls = s.Catalog.Engine()
	s.Posture = posture.New(db, s.Controls, nil)
	s.Posture.SetEngine(s.Catalog.Engine)
	s.Collector = posture.NewCollector(s.Posture, noTargets{}, nil, 1)
	s.Assignments = assignments.New(db, s.Catalog.Control, nil)
	s.Sovereignty, s.SnapshotSigner = sovereigntyService(t, db, envs), key.Signer
	s.TenantBackups, s.BackupObjectives = tenantbackup.NewStore(db, time.Now), tenantbackup.DefaultObjectives()
	s.Notify = notify.New(db, notify.KeyService{Keys: s.Keys}, nil, notify.Options{Signer: key.Signer, Accounts: envs})
	h.stacks = &fakeStacks{stacks: map[string]string{}}
	s.Baselines = baseline.New(db, envs, baseline.Options{Signer: key.Signer, Engine: s.Catalog.Engine, Region: "ap-northeast-1",
		Stacks: func(name string) (provider.Stacks, bool, bool) { return h.stacks, name == "sim", name == "sim" }})
	h.auditKey = key.VerifierKey
	h.api = s
	mux := http.NewServeMux()
	s.Register(mux)
	// Every exchange is held to openapi.json (apitest).
	h.srv = httptest.NewServer(apitest.MustLoad(t).Handler(t, mux))
	t.Cleanup(h.srv.Close)
	return h
}

// sovereigntyService assesses the harness's environments from their own
// rows (no inventory, people or keys) against the shipped example
// profiles; "sim" has the AWS example.
func sovereigntyService(t testing.TB, db *store.DB, envs *env.Store) *sovereignty.Service {
	t.Helper()
	ctx := context.Background()
	eng, err := sovereignty.NewEngine(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc := sovereignty.NewService(db, sovereignty.Options{Engine: eng, Logger: discardLogger(),
		Facts: func(ctx context.Context, id string, _ []controls.Resource) (sovereignty.Facts, error) {
			en, err := envs.Get(ctx, db, id)
			return sovereignty.Facts{Environment: en.ID, Organization: en.OrgID, Classification: string(en.Classification),
				Connection: en.Provider}, err
		},
		Environments: func(context.Context, string) ([]string, error) { return nil, nil },
	})
	docs, err := sovereignty.ExampleDocuments()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		if _, err := svc.Import(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	return svc
}

var serial atomic.Int64

// unsealedKeys is a key service in split custody, unsealed.
func unsealedKeys(t testing.TB, db *store.DB) *keys.Service {
	t.Helper()
	ctx := context.Background()
	svc := keys.New(db, keys.Options{Logger: discardLogger()})
	shares, err := svc.InitSplit(ctx, authz.Principal{PersonID: "p-init", Role: authz.CentralOperator}, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, sh := range shares[:2] {
		if _, err := svc.SubmitShare(ctx, audit.Acting{Actor: "custodian"}, sh); err != nil {
			t.Fatal(err)
		}
	}
	return svc
}

// keyOwner makes a tenant administrator of orgID its key owner with a
// session confirmed by a second factor (as the console's WebAuthn step
// would) and returns the id and token.
func (h *harness) keyOwner(t testing.TB, orgID string) (string, string) {
	t.Helper()
	id, tok := h.person(t, authz.TenantAdmin, orgID)
	ctx := context.Background()
	if _, err := h.db.ExecContext(ctx, `UPDATE people SET key_owner = TRUE WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if err := h.ids.ConfirmSecondFactor(ctx, tok); err != nil {
		t.Fatal(err)
	}
	return id, tok
}

// person invites, binds and signs in a person of role in orgID and returns
// their id and an API token: the real path, minus the certificate checks.
func (h *harness) person(t testing.TB, role authz.Role, orgID string) (string, string) {
	t.Helper()
	ctx := context.Background()
	p, inv, err := h.ids.Bootstrap(ctx, identity.Invitation{Role: role, OrgID: orgID, DisplayName: string(role)})
	if err != nil {
		t.Fatal(err)
	}
	c := identity.Certificate{IssuerDN: "CN=Test CA", Serial: fmt.Sprint(serial.Add(1)), NotAfter: time.Now().Add(time.Hour)}
	if _, err := h.ids.Accept(ctx, inv, c); err != nil {
		t.Fatal(err)
	}
	_, token, _, err := h.ids.SignIn(ctx, c, identity.APIToken, "test")
	if err != nil {
		t.Fatal(err)
	}
	return p.ID, token
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (h *harness) call(t *testing.T, method, path, body string, header map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+h.token)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

const goodRequest = `{"org_id":"nat-digital","system_name":"juminhyo","purpose":"production","classification":"level2","provider":"sim"}`

func TestRequestErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite)
	tests := []struct {
		name       string
		body       string
		header     map[string]string
		wantStatus int
		wantDetail string
		wantField  string
	}{
		{"fail/empty body", "", nil, 400, "empty", ""},
		{"fail/not json", `{"org_id":`, nil, 400, "middle of a JSON value", ""},
		{"fail/syntax", `{"org_id" "x"}`, nil, 400, "not valid JSON", ""},
		{"fail/unknown field", `{"org_id":"nat-digital","colour":"red"}`, nil, 400, `unknown field "colour"`, ""},
		{"fail/wrong type", `{"org_id":5}`, nil, 400, `"org_id" must be a string`, ""},
		{"fail/two objects", goodRequest + goodRequest, nil, 400, "exactly one JSON object", ""},
		{"fail/bad purpose", strings.Replace(goodRequest, "production", "prod", 1), nil, 422, `purpose "prod"`, "purpose"},
		{"fail/bad classification", strings.Replace(goodRequest, "level2", "secret", 1), nil, 422, "classification", "classification"},
		{"fail/unknown org is outside every scope", strings.Replace(goodRequest, "nat-digital", "lg-999999", 1), nil, 403, "outside your scope", ""},
		{"fail/unknown provider", strings.Replace(goodRequest, `"sim"`, `"gcp"`, 1), nil, 422, `provider "gcp" is not configured`, "provider"},
		{"fail/long system name", strings.Replace(goodRequest, "juminhyo", strings.Repeat("あ", 41), 1), nil, 422, "at most 40", "system_name"},
		{"fail/huge body", `{"org_id":"` + strings.Repeat("x", 2<<20) + `"}`, nil, 413, "larger than", ""},
		{"fail/long idempotency key", goodRequest, map[string]string{"Idempotency-Key": strings.Repeat("k", 201)}, 400, "at most 200", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.call(t, "POST", "/api/v1/environments", tt.body, tt.header)
			if r.status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.status, tt.wantStatus, r.raw)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("Content-Type %q, want application/problem+json", ct)
			}
			if d, _ := r.body["detail"].(string); !strings.Contains(d, tt.wantDetail) {
				t.Fatalf("detail %q, want it to contain %q", d, tt.wantDetail)
			}
			if f, _ := r.body["field"].(string); f != tt.wantField {
				t.Fatalf("field %q, want %q", f, tt.wantField)
			}
			if int(r.body["status"].(float64)) != tt.wantStatus {
				t.Fatalf("problem status %v", r.body["status"])
			}
		})
	}
	// Every invalid field at once, the first also as detail and field.
	r := h.call(t, "POST", "/api/v1/environments", `{"org_id":"nat-digital","system_name":"","purpose":"prod","classification":"level2","provider":"sim"}`, nil)
	params, _ := r.body["invalid_params"].([]any)
	if r.status != 422 || r.body["field"] != "system_name" || len(params) != 2 {
		t.Fatalf("two invalid fields: %d %s", r.status, r.raw)
	}
	if p, _ := params[1].(map[string]any); p["name"] != "purpose" || !strings.Contains(p["reason"].(string), `"prod"`) {
		t.Fatalf("second invalid field %v", params[1])
	}
	var n int
	if err := h.db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM environments`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("bad requests stored %d environments (err %v)", n, err)
	}
}

func TestRequestLifecycle(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, d)
			key := map[string]string{"Idempotency-Key": "k-1"}
			first := h.call(t, "POST", "/api/v1/environments", goodRequest, key)
			if first.status != 201 || first.body["state"] != "approved" {
				t.Fatalf("first request: %d %s", first.status, first.raw)
			}
			id := first.body["id"].(string)
			if loc := first.header.Get("Location"); loc != "/api/v1/environments/"+id {
				t.Fatalf("Location %q", loc)
			}
			again := h.call(t, "POST", "/api/v1/environments", goodRequest, key)
			if again.status != 200 || again.body["id"] != id {
				t.Fatalf("retry with same key: %d %s, want 200 and %s", again.status, again.raw, id)
			}
			other := h.call(t, "POST", "/api/v1/environments", strings.Replace(goodRequest, "juminhyo", "zeimu", 1), key)
			if other.status != 409 {
				t.Fatalf("same key, other body: %d %s, want 409", other.status, other.raw)
			}
			dup := h.call(t, "POST", "/api/v1/environments", goodRequest, nil)
			if dup.status != 409 {
				t.Fatalf("second live environment for the same system: %d %s, want 409", dup.status, dup.raw)
			}

			// The quota of qp-small is 1: the second request waits for an operator.
			small := strings.Replace(goodRequest, "nat-digital", "qp-small", 1)
			if r := h.call(t, "POST", "/api/v1/environments", small, nil); r.status != 201 || r.body["state"] != "approved" {
				t.Fatalf("within quota: %d %s", r.status, r.raw)
			}
			over := h.call(t, "POST", "/api/v1/environments", strings.Replace(small, "juminhyo", "zeimu", 1), nil)
			if over.status != 201 || over.body["state"] != "requested" || !strings.Contains(over.body["approval_notes"].(string), "quota") {
				t.Fatalf("over quota: %d %s", over.status, over.raw)
			}
			level3 := h.call(t, "POST", "/api/v1/environments", strings.NewReplacer("level2", "level3", "juminhyo", "kokuho").Replace(goodRequest), nil)
			if level3.body["state"] != "requested" || !strings.Contains(level3.body["approval_notes"].(string), "level3 is not allowed") {
				t.Fatalf("level3 on sim: %s", level3.raw)
			}
			queue := h.call(t, "GET", "/api/v1/approvals", "", nil)
			if items := queue.body["items"].([]any); len(items) != 2 {
				t.Fatalf("approval queue has %d items, want 2: %s", len(items), queue.raw)
			}
			overID := over.body["id"].(string)
			if r := h.call(t, "POST", "/api/v1/environments/"+overID+"/reject", `{}`, nil); r.status != 422 || r.body["field"] != "reason" {
				t.Fatalf("reject without reason: %d %s", r.status, r.raw)
			}
			if r := h.call(t, "POST", "/api/v1/environments/"+overID+"/reject", `{"reason":"quota is there for a reason"}`, map[string]string{"X-Hatoba-Actor": "operator-1"}); r.status != 200 || r.body["state"] != "rejected" || r.body["decided_by"] != h.operatorID {
				t.Fatalf("reject: %d %s", r.status, r.raw)
			}
			if r := h.call(t, "POST", "/api/v1/environments/"+overID+"/approve", "", nil); r.status != 409 {
				t.Fatalf("approve a rejected request: %d %s, want 409", r.status, r.raw)
			}
			l3 := level3.body["id"].(string)
			if r := h.call(t, "POST", "/api/v1/environments/"+l3+"/approve", `{"note":"ok for now"}`, nil); r.status != 200 || r.body["state"] != "approved" {
				t.Fatalf("approve: %d %s", r.status, r.raw)
			}
			detail := h.call(t, "GET", "/api/v1/environments/"+l3, "", nil)
			if steps := detail.body["steps"].([]any); len(steps) != len(vending.StepNames()) {
				t.Fatalf("detail has %d steps, want %d", len(steps), len(vending.StepNames()))
			}
			if events := detail.body["events"].([]any); len(events) != 2 {
				t.Fatalf("detail has %d events (requested, approved), got %s", len(events), detail.raw)
			}
			if r := h.call(t, "GET", "/api/v1/environments/env-nope", "", nil); r.status != 404 || r.header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("unknown environment: %d %s", r.status, r.raw)
			}
			if r := h.call(t, "POST", "/api/v1/environments/"+id+"/transfer", `{"org_id":"qp-small"}`, nil); r.status != 409 {
				t.Fatalf("transfer of an environment not ready: %d %s", r.status, r.raw)
			}
		})
	}
}

func TestListPagination(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite)
	const n = 7
	for i := 0; i < n; i++ {
		body := strings.Replace(goodRequest, "juminhyo", fmt.Sprintf("system-%d", i), 1)
		if r := h.call(t, "POST", "/api/v1/environments", body, nil); r.status != 201 {
			t.Fatalf("request %d: %s", i, r.raw)
		}
	}
	seen := map[string]bool{}
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > n {
			t.Fatal("pagination does not end")
		}
		r := h.call(t, "GET", "/api/v1/environments?limit=3&cursor="+cursor, "", nil)
		if r.status != 200 {
			t.Fatal(r.raw)
		}
		for _, it := range r.body["items"].([]any) {
			id := it.(map[string]any)["id"].(string)
			if seen[id] {
				t.Fatalf("%s listed twice", id)
			}
			seen[id] = true
		}
		next, _ := r.body["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	if len(seen) != n {
		t.Fatalf("listed %d environments, want %d", len(seen), n)
	}
	for _, bad := range []string{"limit=0", "limit=abc", "limit=501", "state=happy"} {
		if r := h.call(t, "GET", "/api/v1/environments?"+bad, "", nil); r.status != 400 {
			t.Errorf("%s: status %d, want 400", bad, r.status)
		}
	}
	if r := h.call(t, "GET", "/api/v1/nothing", "", nil); r.status != 404 || !regexp.MustCompile(`openapi`).MatchString(r.raw) {
		t.Errorf("unknown endpoint: %d %s", r.status, r.raw)
	}
}

// noTargets is an inventory source with no environment to collect: the
// harness has no provider.
type noTargets struct{}

func (noTargets) Targets(context.Context) ([]posture.Target, error) { return nil, nil }

func (noTargets) List(context.Context, posture.Target) ([]controls.Resource, error) { return nil, nil }
