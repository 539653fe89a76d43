package web

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/api"
	"github.com/hatoba-cloud/hatoba/internal/assignments"
	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/breakglass"
	"github.com/hatoba-cloud/hatoba/internal/browsertest"
	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/envaccess"
	"github.com/hatoba-cloud/hatoba/internal/identity"
	"github.com/hatoba-cloud/hatoba/internal/mfa"
	"github.com/hatoba-cloud/hatoba/internal/notify"
	"github.com/hatoba-cloud/hatoba/internal/org"
	"github.com/hatoba-cloud/hatoba/internal/pki"
	"github.com/hatoba-cloud/hatoba/internal/pki/pkitest"
	"github.com/hatoba-cloud/hatoba/internal/placement"
	"github.com/hatoba-cloud/hatoba/internal/posture"
	"github.com/hatoba-cloud/hatoba/internal/provider"
	"github.com/hatoba-cloud/hatoba/internal/sovereignty"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
	"github.com/hatoba-cloud/hatoba/internal/vending"
)

// idleProvider is never called: these tests do not start the workers, so
// approved environments wait for a worker that never comes.
type idleProvider struct{ provider.Provider }

// harness is the console and the JSON API on one mux, as hatoba serve wires
// them, over a fresh SQLite database, with the identity layer underneath:
// people sign in through identity and the console authorizes through authz.
type harness struct {
	srv     *httptest.Server
	api     *api.Server
	ids     *identity.Service
	mfa     *mfa.Service
	console *Console
	clock   *testClock
	// mfaOrigin is the origin security-key answers name (softKey).
	mfaOrigin string

	mu     sync.Mutex
	grants map[string][]authz.Grant
	// keyShares are the key service's custodian shares, to unseal it
	// again after a test seals it.
	keyShares []string
}

// testOrgs is a small registry: a prefecture with a city and one of its
// wards, a national body and a quasi-public body.
var testOrgs = []org.Organization{
	{ID: "nat-digital", Kind: org.KindNational, NameJa: "デジタル庁", NameKana: "でじたるちょう", NameEn: "Digital Agency"},
	{Kind: org.KindPrefecture, LGCode: "010006", NameJa: "北海道", NameKana: "ほっかいどう", NameEn: "Hokkaido"},
	{Kind: org.KindCity, LGCode: "011002", NameJa: "札幌市", NameKana: "さっぽろし", NameEn: "Sapporo City", ParentID: "lg-010006"},
	{Kind: org.KindCityWard, LGCode: "011011", NameJa: "札幌市中央区", NameKana: "さっぽろしちゅうおうく", NameEn: "Chuo Ward, Sapporo", ParentID: "lg-011002"},
	{ID: "qp-jlis", Kind: org.KindQuasiPublic, NameJa: "地方公共団体情報システム機構", NameKana: "ちほうこうきょうだんたいじょうほうしすてむきこう", NameEn: "J-LIS"},
}

// rootOrgs are the roots of testOrgs: a grant for each covers everything.
var rootOrgs = []string{"nat-digital", "lg-010006", "qp-jlis"}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// testClock is identity's and the console's clock, so tests can let
// sessions expire without waiting.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// sessionTTL is the harness's session lifetime.
const sessionTTL = 8 * time.Hour

// harnessConfig is what differs between the plain-HTTP harness and the TLS
// one: how certificates are judged and the addresses hatoba believes it has.
type harnessConfig struct {
	dialect   store.Dialect
	certs     api.CertVerifier
	publicURL string
	mfaOrigin string
	// domestic adds a second provider connection, "domestic" on the
	// domestic tier, which may hold level3 (the placement tests).
	domestic bool
}

// build makes everything but the server.
func build(t testing.TB, cfg harnessConfig) (*harness, *http.ServeMux) {
	t.Helper()
	dialect := cfg.dialect
	if dialect == "" {
		dialect = store.SQLite
	}
	db := storetest.Open(t, dialect)
	clock := &testClock{t: time.Now()}
	orgs := org.New(db, time.Now)
	ctx := context.Background()
	for _, o := range testOrgs {
		if _, err := orgs.Create(ctx, audit.Acting{Actor: "system"}, o); err != nil {
			t.Fatalf("create organisation %s: %v", o.NameJa, err)
		}
	}
	envs := env.NewStore(db, time.Now)
	ids := identity.New(db, identity.Options{SessionTTL: sessionTTL, TokenTTL: time.Hour, InvitationTTL: 72 * time.Hour}, clock.Now)
	access := envaccess.New(db, envs, ids, orgs, clock.Now)
	conns := []vending.Connection{
		// level3 is not allowed, so a level3 request waits for approval.
		{Name: "sim", Kind: "sim", Provider: idleProvider{}, Allowed: []env.Classification{env.Level1, env.Level2}, EmailTemplate: "aws+{id}@example.lg.jp"},
	}
	if cfg.domestic {
		conns = append(conns, vending.Connection{Name: "domestic", Kind: "openstack", Tier: placement.TierDomestic, Provider: idleProvider{},
			Allowed: []env.Classification{env.Level1, env.Level2, env.Level3}, EmailTemplate: "os+{id}@example.lg.jp"})
	}
	places := placement.NewService(db, clock.Now)
	if _, err := places.Seed(ctx, placement.Default()); err != nil {
		t.Fatal(err)
	}
	engine, err := vending.New(db, envs, orgs, vending.Config{Logger: discardLogger(), Access: access, Placement: places, Connections: conns})
	if err != nil {
		t.Fatal(err)
	}
	mcfg, err := mfa.ConfigFor(cfg.mfaOrigin, "hatoba test")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := mfa.New(db, mcfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{ids: ids, mfa: keys, clock: clock, mfaOrigin: cfg.mfaOrigin, grants: map[string][]authz.Grant{}}
	auditKey, _, err := audit.LoadOrCreateKey(filepath.Join(t.TempDir(), "audit.key"), "hatoba.test/audit")
	if err != nil {
		t.Fatal(err)
	}
	az := authz.New(orgs, 5*time.Minute, clock.Now)
	bg := breakglass.New(db, az, 8*time.Hour, clock.Now)
	a := &api.Server{DB: db, Envs: envs, Orgs: orgs, Vending: engine, Version: "test", Logger: discardLogger(),
		Identity: ids, Authz: az, Certs: cfg.certs, PublicURL: cfg.publicURL, EnvAccess: access, BreakGlass: bg,
		Audit: audit.New(db, auditKey.Signer, discardLogger()), AuditVerifierKey: auditKey.VerifierKey,
		// The test's own grants (h.grant) and those break-glass approved.
		Grants: func(ctx context.Context, personID string) ([]authz.Grant, error) {
			real, err := bg.ActiveGrants(ctx, personID)
			if err != nil {
				return nil, err
			}
			h.mu.Lock()
			defer h.mu.Unlock()
			return append(real, h.grants[personID]...), nil
		}}
	a.Keys, h.keyShares = unsealedKeys(t, db)
	// The controls, as internal/api's harness wires them: the running
	// catalog (built-in and custom controls), findings recorded by the
	// tests (no collector), assignments.
	if a.Catalog, err = controls.OpenCatalog(ctx, controls.NewStore(db, nil)); err != nil {
		t.Fatal(err)
	}
	a.Controls = a.Catalog.Engine()
	a.Posture = posture.New(db, a.Controls, nil)
	a.Posture.SetEngine(a.Catalog.Engine)
	a.Assignments = assignments.New(db, a.Catalog.Control, nil)
	a.Notify = notify.New(db, notify.KeyService{Keys: a.Keys}, clock.Now, notify.Options{Signer: auditKey.Signer})
	// Sovereignty from each environment's own row against the shipped
	// example profiles ("sim" has the AWS example), as internal/api's
	// harness wires it.
	sovEngine, err := sovereignty.NewEngine(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	a.Sovereignty = sovereignty.NewService(db, sovereignty.Options{Engine: sovEngine, Logger: discardLogger(), Now: clock.Now,
		Facts: func(ctx context.Context, id string, _ []controls.Resource) (sovereignty.Facts, error) {
			en, err := envs.Get(ctx, db, id)
			return sovereignty.Facts{Environment: en.ID, Organization: en.OrgID, Classification: string(en.Classification),
				Connection: en.Provider, System: en.SystemName}, err
		},
		Environments: func(context.Context, string) ([]string, error) { return nil, nil },
	})
	sovDocs, err := sovereignty.ExampleDocuments()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range sovDocs {
		if _, err := a.Sovereignty.Import(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	h.api = a
	h.console, err = New(Deps{API: a, MFA: keys, Logger: discardLogger(), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	a.Register(mux)
	h.console.Register(mux)
	return h, mux
}

// plainPKI is one CA pair for every plain-HTTP harness: those connections
// present no certificate, so the verifier only needs an anchor to exist.
var plainPKI = sync.OnceValues(func() (*pki.Verifier, error) {
	p, err := pkitest.Generate(pkitest.Options{})
	if err != nil {
		return nil, err
	}
	return pki.New(pki.Options{CACerts: []*x509.Certificate{p.Root.Cert, p.Intermediate.Cert}})
})

// newHarness serves the console over plain HTTP, as on 127.0.0.1 during
// development: no client certificates, so sessions are not bound to one.
func newHarness(t testing.TB) *harness {
	t.Helper()
	return newHarnessOn(t, store.SQLite)
}

// newHarnessOn is newHarness over the given database.
func newHarnessOn(t testing.TB, d store.Dialect) *harness {
	t.Helper()
	return newHarnessWith(t, harnessConfig{dialect: d})
}

// newHarnessWith is newHarness with the choices of cfg beyond the
// certificates and addresses.
func newHarnessWith(t testing.TB, cfg harnessConfig) *harness {
	t.Helper()
	v, err := plainPKI()
	if err != nil {
		t.Fatal(err)
	}
	certs, err := api.NewPKICerts(v, "https://console.hatoba.test")
	if err != nil {
		t.Fatal(err)
	}
	cfg.certs, cfg.publicURL, cfg.mfaOrigin = certs, "https://console.hatoba.test", "http://localhost"
	h, mux := build(t, cfg)
	h.srv = httptest.NewServer(mux)
	t.Cleanup(h.srv.Close)
	return h
}

// tlsHarness is a harness served over TLS that asks for client
// certificates, with a test PKI whose certificates the console judges.
type tlsHarness struct {
	*harness
	pki *pkitest.PKI
	// origin is https://localhost:port, the address WebAuthn needs (an IP
	// address cannot be a relying party).
	origin string
	// serverCA signed the server's certificate (for localhost and
	// 127.0.0.1), for clients that should trust it.
	serverCA *x509.Certificate
}

func newTLSHarness(t testing.TB) *tlsHarness {
	t.Helper()
	p, _ := pkitest.New(t, pkitest.Options{})
	v, err := pki.New(pki.Options{CACerts: []*x509.Certificate{p.Root.Cert, p.Intermediate.Cert}, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(nil)
	origin := fmt.Sprintf("https://localhost:%d", srv.Listener.Addr().(*net.TCPAddr).Port)
	certs, err := api.NewPKICerts(v, origin)
	if err != nil {
		t.Fatal(err)
	}
	h, mux := build(t, harnessConfig{certs: certs, publicURL: origin, mfaOrigin: origin})
	server := browsertest.NewServerPKI(t)
	srv.Config.Handler = mux
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{server.Cert}, MinVersion: tls.VersionTLS12}
	v.ConfigureServerTLS(srv.TLS)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	h.srv = srv
	return &tlsHarness{harness: h, pki: p, origin: origin, serverCA: server.CA}
}

func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// request makes an environment through the engine, as a tenant would.
func (h *harness) request(t testing.TB, orgID, system string, c env.Classification) env.Environment {
	t.Helper()
	en, _, err := h.api.Vending.Request(context.Background(), env.Request{OrgID: orgID, SystemName: system,
		Purpose: env.Production, Classification: c, Provider: "sim", RequestedBy: "test"}, "")
	if err != nil {
		t.Fatalf("request %s: %v", system, err)
	}
	return en
}

// move forces an environment through states, as the workers would.
func (h *harness) move(t testing.TB, id string, from, to env.State, reason string) {
	t.Helper()
	if _, err := h.api.Envs.Transition(context.Background(), h.api.DB, id, []env.State{from}, to, "test", reason); err != nil {
		t.Fatalf("move %s from %s to %s: %v", id, from, to, err)
	}
}

func (h *harness) countEnvs(t testing.TB) int {
	t.Helper()
	page, err := h.api.Envs.List(context.Background(), env.ListParams{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	return len(page.Items)
}

var serial atomic.Int64

// testCert is a certificate as identity keeps it, unique per call: the
// plain-HTTP harness binds people to these without a real card.
func testCert() identity.Certificate {
	c := identity.Certificate{IssuerDN: "CN=Test CA", Serial: fmt.Sprintf("%x", serial.Add(1)), NotAfter: time.Now().Add(24 * time.Hour)}
	_, _ = rand.Read(c.SPKISHA256[:])
	return c
}

// invite records a person of role in orgID and returns them and their
// invitation token, as the command line's bootstrap does.
func (h *harness) invite(t testing.TB, role authz.Role, orgID, name string) (identity.Person, string) {
	t.Helper()
	p, token, err := h.ids.Bootstrap(context.Background(), identity.Invitation{Role: role, OrgID: orgID, DisplayName: name})
	if err != nil {
		t.Fatal(err)
	}
	return p, token
}

// person makes a person of role in orgID the real way (invited, card bound,
// console session opened) and returns a browser with their session. When
// confirmed, the session has passed its security-key check, as every
// session of a role that needs one has before it reaches any page.
func (h *harness) person(t testing.TB, role authz.Role, orgID string, confirmed bool) *browser {
	t.Helper()
	return h.named(t, role, orgID, "試験 "+string(role), confirmed)
}

// named is person with a display name of the test's choosing.
func (h *harness) named(t testing.TB, role authz.Role, orgID, name string, confirmed bool) *browser {
	t.Helper()
	ctx := context.Background()
	p, token := h.invite(t, role, orgID, name)
	cert := testCert()
	if _, err := h.ids.Accept(ctx, token, cert); err != nil {
		t.Fatal(err)
	}
	_, secret, _, err := h.ids.SignIn(ctx, cert, identity.ConsoleSession, "test")
	if err != nil {
		t.Fatal(err)
	}
	if confirmed && role.NeedsSecondFactor() {
		if err := h.ids.ConfirmSecondFactor(ctx, secret); err != nil {
			t.Fatal(err)
		}
	}
	b := h.anonymous(t)
	b.session, b.person, b.cert = secret, p, cert
	return b
}

// as is a confirmed person of role in orgID.
func (h *harness) as(t testing.TB, role authz.Role, orgID string) *browser {
	t.Helper()
	return h.person(t, role, orgID, true)
}

// grant gives a person break-glass grants to the organisations' subtrees.
func (h *harness) grant(personID string, orgIDs ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, id := range orgIDs {
		h.grants[personID] = append(h.grants[personID], authz.Grant{ID: "g-" + id, OrgID: id, Expiry: time.Now().Add(time.Hour)})
	}
}

// browser is the harness's default visitor: a central operator under
// break-glass grants for every test organisation, so one person may do
// everything the page tests exercise.
func (h *harness) browser(t testing.TB) *browser {
	t.Helper()
	b := h.as(t, authz.CentralOperator, "")
	h.grant(b.person.ID, rootOrgs...)
	return b
}

// browser is an HTTP client with cookies that does not follow redirects,
// so tests see the 303s. Go's cookie jar keeps Secure cookies off plain
// HTTP, so the session cookie is carried by hand, as a browser on
// http://localhost would.
type browser struct {
	h       *harness
	client  *http.Client
	session string
	person  identity.Person
	cert    identity.Certificate
	base    string
}

// anonymous is a browser nobody has signed in with.
func (h *harness) anonymous(t testing.TB) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{h: h, base: h.srv.URL, client: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// csrf is the browser's form token, as its pages carry it.
func (b *browser) csrf() string { return csrfToken(b.session) }

type response struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(t testing.TB, req *http.Request) response {
	t.Helper()
	if b.session != "" {
		req.AddCookie(&http.Cookie{Name: api.SessionCookie, Value: b.session})
	}
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == api.SessionCookie {
			b.session = ck.Value
			if ck.MaxAge < 0 {
				b.session = ""
			}
		}
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

func (b *browser) get(t testing.TB, path string, header ...string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(t, req)
}

func (b *browser) post(t testing.TB, path string, form url.Values, header ...string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(t, req)
}

// postJSON posts to a webauthn endpoint as webauthn.js does.
func (b *browser) postJSON(t testing.TB, path string, body []byte, header ...string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(csrfHeader, b.csrf())
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(t, req)
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)

// formFields returns the hidden fields of a page's forms (the first value
// of each name): the CSRF token, "from" and, on the request form, the
// idempotency key.
func formFields(t testing.TB, page string) url.Values {
	t.Helper()
	v := url.Values{}
	for _, m := range hiddenInput.FindAllStringSubmatch(page, -1) {
		if v.Get(m[1]) == "" {
			v.Set(m[1], m[2])
		}
	}
	if v.Get(csrfField) == "" {
		t.Fatalf("no CSRF token on the page:\n%s", page)
	}
	return v
}

// mustContain fails unless body holds every want.
func mustContain(t testing.TB, body string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("page lacks %q", w)
		}
	}
	if t.Failed() {
		t.Logf("page:\n%s", body)
	}
}

// mustNotContain fails if body holds any of unwanted.
func mustNotContain(t testing.TB, body string, unwanted ...string) {
	t.Helper()
	for _, u := range unwanted {
		if strings.Contains(body, u) {
			t.Errorf("page shows %q", u)
		}
	}
}
