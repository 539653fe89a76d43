package openstack

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2"

	"github.com/hatoba-cloud/hatoba/internal/provider"
)

func keystoneError(status int, msg string) error {
	return gophercloud.ErrUnexpectedResponseCode{Actual: status, Method: "POST", URL: "http://keystone/v3/projects",
		Body: []byte(`{"error": {"code": ` + strconv.Itoa(status) + `, "message": "` + msg + `", "title": "x"}}`)}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		err      error
		class    provider.Class
		code     string
		mentions string
	}{
		{"ok/down", errors.New("dial tcp 127.0.0.1:5000: connect: connection refused"), provider.Transient, "", ""},
		{"ok/500", keystoneError(500, "An unexpected error"), provider.Transient, "Internal Server Error", ""},
		{"ok/503", keystoneError(503, "busy"), provider.Transient, "Service Unavailable", ""},
		{"ok/409 reconciles", keystoneError(409, "Conflict occurred attempting to store project"), provider.Transient, "Conflict", ""},
		{"ok/429", keystoneError(429, "slow down"), provider.Throttling, "Too Many Requests", ""},
		{"fail/401", keystoneError(401, "The request you have made requires authentication."), provider.Permanent, "Unauthorized", "application credential"},
		{"fail/403 names the role", keystoneError(403, "You are not authorized to perform the requested action: identity:create_project."), provider.Permanent, "Forbidden", "admin role"},
		{"fail/403 too deep", keystoneError(403, "Max hierarchy depth reached for abc branch."), provider.Permanent, "UnitTooDeep", "max_project_tree_depth"},
		{"fail/413 quota", keystoneError(413, "Request entity too large"), provider.Permanent, QuotaExceeded, ""},
		{"fail/403 quota", keystoneError(403, "Quota exceeded for resources: projects"), provider.Permanent, QuotaExceeded, ""},
		{"fail/400", keystoneError(400, "Invalid input for field 'name'"), provider.Permanent, "Bad Request", "Invalid input"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := classify("CreateProject", tc.err)
			var pe *provider.Error
			if !errors.As(err, &pe) {
				t.Fatalf("classify = %T, want *provider.Error", err)
			}
			if pe.Class != tc.class || pe.Code != tc.code {
				t.Fatalf("classify = %s/%q, want %s/%q (%v)", pe.Class, pe.Code, tc.class, tc.code, err)
			}
			if !strings.Contains(err.Error(), tc.mentions) {
				t.Fatalf("%v does not mention %q", err, tc.mentions)
			}
		})
	}
	if classify("x", nil) != nil {
		t.Fatal("classify(nil) is not nil")
	}
}

func TestTags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ k, v, want string }{
		{"hatoba:system", "住民記録/本番, 税", "hatoba:system=住民記録%2F本番%2C 税"},
		{"hatoba:purpose", "100%", "hatoba:purpose=100%25"},
	} {
		got := keyValueTag(tc.k, tc.v)
		if got != tc.want {
			t.Errorf("keyValueTag(%q, %q) = %q, want %q", tc.k, tc.v, got, tc.want)
		}
		if strings.ContainsAny(got, "/,") {
			t.Errorf("tag %q holds a character Keystone refuses", got)
		}
		k, v, _ := strings.Cut(got, "=")
		if unescapeTag(k) != tc.k || unescapeTag(v) != tc.v {
			t.Errorf("tag %q does not read back as %q=%q", got, tc.k, tc.v)
		}
	}
	long := keyValueTag("k", strings.Repeat("/", 200))
	if n := len([]rune(long)); n > maxTag || strings.HasSuffix(long, "%") || strings.HasSuffix(long, "%2") {
		t.Errorf("a long tag is cut badly: %d characters, ends %q", n, long[len(long)-3:])
	}
}

func TestUnitName(t *testing.T) {
	t.Parallel()
	if got := unitName([]string{"gov", "tokyo", "tax"}); got != "unit:gov/tokyo/tax" {
		t.Fatalf("unitName = %q", got)
	}
	deep := []string{strings.Repeat("総務省", 10), strings.Repeat("情報", 10), "tax"}
	other := []string{strings.Repeat("総務省", 10), strings.Repeat("情報", 11), "tax"}
	a, b := unitName(deep), unitName(other)
	if len([]rune(a)) > maxProjectName || a == b {
		t.Fatalf("long unit names %q and %q: too long or the same", a, b)
	}
}

func TestGuardrailsCombine(t *testing.T) {
	t.Parallel()
	a := attached{
		"x": {EndpointRegions: []string{"jp-east-1", "jp-west-1"}, AllowedRoles: []string{"member", "reader"},
			ProjectLimits: []Limit{{Service: "compute", Region: "jp-east-1", Resource: "cores", Limit: 20}}},
		"y": {EndpointRegions: []string{"jp-west-1", "us-east-1"},
			ProjectLimits: []Limit{{Service: "compute", Region: "jp-east-1", Resource: "cores", Limit: 8}}},
		"z": {AllowedRoles: []string{"admin"}},
	}
	e := a.effective()
	if strings.Join(e.EndpointRegions, ",") != "jp-west-1" {
		t.Errorf("regions = %v, want the ones both allow", e.EndpointRegions)
	}
	if e.AllowedRoles == nil || len(e.AllowedRoles) != 0 {
		t.Errorf("roles = %#v, want none allowed (an empty restriction, not none)", e.AllowedRoles)
	}
	if len(e.ProjectLimits) != 1 || e.ProjectLimits[0].Limit != 8 {
		t.Errorf("limits = %+v, want the lower", e.ProjectLimits)
	}
	if got := (attached{}).effective(); got.EndpointRegions != nil || got.AllowedRoles != nil {
		t.Errorf("no guardrail restricts %+v", got)
	}
}

func FuzzParseGuardrail(f *testing.F) {
	f.Add(`{"format":"hatoba-openstack-guardrail/v1","endpoint_regions":["jp-east-1"],"project_limits":[{"service":"compute","resource":"cores","limit":4}]}`)
	f.Add(`{"Version":"2012-10-17","Statement":[]}`)
	f.Add(`{"format":"hatoba-openstack-guardrail/v1","project_limits":[{"limit":-5}]}`)
	f.Fuzz(func(t *testing.T, doc string) {
		g, ok, err := ParseGuardrail(doc)
		if !ok && err != nil {
			t.Fatalf("a document of another format is an error: %v", err)
		}
		if ok && err == nil {
			for _, l := range g.ProjectLimits {
				if l.Service == "" || l.Resource == "" || l.Limit < -1 {
					t.Fatalf("accepted a bad limit %+v", l)
				}
			}
		}
	})
}

func TestSwiftAccountURL(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"https://swift.example.jp/v1/AUTH_admin", "https://swift.example.jp/v1/AUTH_%(project_id)s",
		"https://swift.example.jp/v1/AUTH_$(project_id)s/", "https://swift.example.jp/v1", "https://swift.example.jp/v1/"} {
		if got := swiftAccountURL(in, "p1"); got != "https://swift.example.jp/v1/AUTH_p1" {
			t.Errorf("swiftAccountURL(%q) = %q", in, got)
		}
	}
}
