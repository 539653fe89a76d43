package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/api"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/org"
	"github.com/hatoba-cloud/hatoba/internal/provider"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
	"github.com/hatoba-cloud/hatoba/internal/vending"
)

// idleProvider is never called: these tests do not start the workers, so
// approved environments wait for a worker that never comes.
type idleProvider struct{ provider.Provider }

// harness is the console and the JSON API on one mux, as hatoba serve wires
// them, over a fresh SQLite database.
type harness struct {
	srv *httptest.Server
	api *api.Server
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

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func newHarness(t testing.TB) *harness {
	t.Helper()
	db := storetest.Open(t, store.SQLite)
	orgs := org.New(db, time.Now)
	ctx := context.Background()
	for _, o := range testOrgs {
		if _, err := orgs.Create(ctx, o); err != nil {
			t.Fatalf("create organisation %s: %v", o.NameJa, err)
		}
	}
	envs := env.NewStore(db, time.Now)
	engine, err := vending.New(db, envs, orgs, vending.Config{Logger: discardLogger(), Connections: []vending.Connection{
		// level3 is not allowed, so a level3 request waits for approval.
		{Name: "sim", Provider: idleProvider{}, Allowed: []env.Classification{env.Level1, env.Level2}, EmailTemplate: "aws+{id}@example.lg.jp"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	a := &api.Server{DB: db, Envs: envs, Orgs: orgs, Vending: engine, Version: "test", Logger: discardLogger()}
	console, err := New(Deps{API: a, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	a.Register(mux)
	console.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &harness{srv: srv, api: a}
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

// browser is an HTTP client with cookies that does not follow redirects,
// so tests see the 303s.
type browser struct {
	h      *harness
	client *http.Client
}

func (h *harness) browser(t testing.TB) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{h: h, client: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type response struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(t testing.TB, req *http.Request) response {
	t.Helper()
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

func (b *browser) get(t testing.TB, path string, header ...string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.h.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(t, req)
}

func (b *browser) post(t testing.TB, path string, form url.Values) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.h.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(t, req)
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)

// formFields returns the hidden fields of the first form on a page:
// the CSRF token, "from" and, on the request form, the idempotency key.
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
