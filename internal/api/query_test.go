package api_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/api"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// listParams is every listing of the API with queries it must refuse (400,
// naming the parameter) and one it must accept. A GET route that answers a
// list of items without a row here fails TestListParameters.
var listParams = map[string]struct {
	ok  string
	bad map[string]string // query → the parameter the answer names
}{
	"GET /api/v1/people": {ok: "", bad: map[string]string{"cursor=x": "cursor"}},
	"GET /api/v1/organizations": {ok: "kind=national&limit=1&parent_id=nat-digital&q=a", bad: map[string]string{
		"cursor=garbage": "cursor", "cursor=bzE6Li4v": "cursor" /* "o1:../" */, "parent_id=../etc": "parent_id",
		"parent_id=nat-": "parent_id", "kind=planet": "kind", "limit=abc": "limit", "limit=501": "limit", "orgid=nat-digital": "orgid",
	}},
	"GET /api/v1/environments": {ok: "org_id=nat-digital&state=ready&limit=5&cursor=env-0000000000000000", bad: map[string]string{
		"cursor=garbage": "cursor", "cursor=env-": "cursor", "org_id=x%00y": "org_id", "org_id='%20OR%201=1": "org_id",
		"state=happy": "state", "limit=0": "limit", "org=nat-digital": "org", "cursor=a&cursor=b": "cursor",
	}},
	"GET /api/v1/approvals": {ok: "org_id=nat-digital", bad: map[string]string{
		"cursor=garbage": "cursor", "org_id=nope": "org_id", "state=ready": "state", "limit=-1": "limit",
	}},
	"GET /api/v1/environments/{id}/findings": {ok: "status=all&format=ocsf", bad: map[string]string{
		"cursor=x": "cursor", "status=closed": "status", "format=xml": "format",
	}},
	"GET /api/v1/environments/{id}/inventory":     {bad: map[string]string{"cursor=x": "cursor", "type=aws_s3_bucket": "type"}},
	"GET /api/v1/environments/{id}/access":        {bad: map[string]string{"cursor=x": "cursor", "person_id=p-x": "person_id"}},
	"GET /api/v1/environments/{id}/restore-tests": {bad: map[string]string{"cursor=x": "cursor", "limit=5": "limit"}},
	"GET /api/v1/controls":                        {ok: "kind=detective", bad: map[string]string{"kind=everything": "kind", "cursor=x": "cursor"}},
	"GET /api/v1/control-assignments":             {bad: map[string]string{"cursor=x": "cursor", "org_id=nat-digital": "org_id"}},
	"GET /api/v1/control-exceptions":              {bad: map[string]string{"cursor=x": "cursor"}},
	"GET /api/v1/access-requests":                 {bad: map[string]string{"cursor=x": "cursor", "org_id=x": "org_id"}},
	"GET /api/v1/organizations/{id}/keys":         {bad: map[string]string{"cursor=x": "cursor"}},
	"GET /api/v1/organizations/{id}/keystore/usage": {ok: "limit=10", bad: map[string]string{
		"cursor=x": "cursor", "limit=1001": "limit", "limit=x": "limit",
	}},
	"GET /api/v1/secrets":              {bad: map[string]string{"cursor=x": "cursor", "prefix=a": "prefix"}},
	"GET /api/v1/providers":            {bad: map[string]string{"cursor=x": "cursor", "tier=domestic": "tier"}},
	"GET /api/v1/placement-policy":     {bad: map[string]string{"version=1": "version"}},
	"GET /api/v1/sovereignty/profiles": {bad: map[string]string{"cursor=x": "cursor", "connection=sim": "connection"}},
	"GET /api/v1/sovereignty/scores":   {bad: map[string]string{"cursor=x": "cursor", "org_id=nat-digital": "org_id"}},
	"GET /api/v1/sovereignty/concentration/history": {ok: "dimension=zone&days=400",
		bad: map[string]string{"dimension=country": "dimension", "days=0": "days", "days=401": "days", "since=2026-01-01": "since"}},
	"GET /api/v1/posture/rounds": {ok: "limit=10", bad: map[string]string{"cursor=x": "cursor", "limit=101": "limit", "limit=x": "limit"}},
	"GET /api/v1/audit/entries": {ok: "org_id=nat-digital&from_seq=0&limit=10&since=2026-01-01T00:00:00Z", bad: map[string]string{
		"cursor=x": "cursor", "org_id=../../": "org_id", "org_id=nat-digital%E2%80%AE": "org_id", "from_seq=-1": "from_seq",
		"since=yesterday": "since", "until=2026": "until", "limit=0": "limit",
	}},
	"GET /api/v1/organizations/{id}/notify/channels": {bad: map[string]string{"cursor=x": "cursor"}},
	"GET /api/v1/organizations/{id}/notify/deliveries": {ok: "state=dead&limit=10", bad: map[string]string{
		"cursor=x": "cursor", "state=lost": "state", "limit=501": "limit",
	}},
	"GET /api/v1/organizations/{id}/notify/events":          {ok: "limit=10", bad: map[string]string{"cursor=x": "cursor", "limit=0": "limit"}},
	"GET /api/v1/organizations/{id}/notify/critical-events": {ok: "limit=10", bad: map[string]string{"severity=high": "severity", "limit=x": "limit"}},
	"GET /api/v1/organizations/{id}/notify/suppressions":    {ok: "all=true", bad: map[string]string{"all=yes": "all", "cursor=x": "cursor"}},
	"GET /api/v1/organizations/{id}/notify/notices":         {bad: map[string]string{"cursor=x": "cursor"}},
	"GET /api/v1/notify/digests":                            {ok: "limit=5", bad: map[string]string{"limit=0": "limit", "period=daily": "period"}},
	"GET /api/v1/notify/notices":                            {bad: map[string]string{"state=sent": "state"}},
	"GET /api/v1/baselines":                                 {bad: map[string]string{"cursor=x": "cursor", "limit=5": "limit"}},
	"GET /api/v1/audit/export": {ok: "org_id=nat-digital", bad: map[string]string{
		"cursor=x": "cursor", "org_id=%FF": "org_id", "from_seq=x": "from_seq",
	}},
}

// TestListParameters: every listing refuses a cursor it did not hand out,
// a malformed id in a filter, a value outside the parameter's range and a
// parameter it does not take — 400, naming the parameter — and accepts its
// own parameters.
func TestListParameters(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite)
	ctx := context.Background()
	en := h.call(t, "POST", "/api/v1/environments", goodRequest, nil)
	if en.status != http.StatusCreated {
		t.Fatalf("seed environment: %d %s", en.status, en.raw)
	}
	envID := en.body["id"].(string)
	if _, err := h.api.Posture.Record(ctx, envID, "nat-digital", nil); err != nil {
		t.Fatal(err)
	}
	_, auditor := h.person(t, authz.CentralAuditor, "")
	as := map[string]string{"Authorization": "Bearer " + auditor}
	pathOf := func(pattern string) string {
		p := strings.Replace(pattern, "/organizations/{id}", "/organizations/nat-digital", 1)
		return strings.Replace(p, "/environments/{id}", "/environments/"+envID, 1)
	}
	seen := map[string]bool{}
	for _, rt := range api.Routes {
		route := rt.Method + " " + rt.Pattern
		row, listed := listParams[route]
		if rt.Method != "GET" || strings.Contains(rt.Pattern, "{key}") || strings.HasSuffix(rt.Pattern, "{id}") {
			continue
		}
		path := pathOf(rt.Pattern)
		base := h.call(t, "GET", path, "", as)
		if !listed {
			if _, items := base.body["items"]; items {
				t.Errorf("%s answers a list but has no row in listParams", route)
			}
			continue
		}
		seen[route] = true
		// 503: a capability this harness does not wire; the parameters
		// are checked before it is asked.
		if base.status == http.StatusBadRequest || base.status >= 500 && base.status != http.StatusServiceUnavailable {
			t.Errorf("ok/%s without parameters: %d %s", route, base.status, base.raw)
		}
		if row.ok != "" {
			if r := h.call(t, "GET", path+"?"+row.ok, "", as); r.status == http.StatusBadRequest || r.status >= 500 && r.status != http.StatusServiceUnavailable {
				t.Errorf("ok/%s?%s: %d %s", route, row.ok, r.status, r.raw)
			}
		}
		for q, field := range row.bad {
			r := h.call(t, "GET", path+"?"+q, "", as)
			if r.status != http.StatusBadRequest || r.body["field"] != field || r.header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("fail/%s?%s: %d %s, want 400 naming %q", route, q, r.status, r.raw, field)
			}
			if v, _ := url.ParseQuery(q); len(v[field]) == 1 && strings.Contains(r.raw, "\u202e") {
				t.Errorf("fail/%s?%s: the answer carries the format character back: %s", route, q, r.raw)
			}
		}
	}
	for route := range listParams {
		if !seen[route] {
			t.Errorf("listParams has %s, which is not a GET route", route)
		}
	}
}
