package apitest_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/api/apitest"
)

const person = `{"id":"p-1","role":"tenant-admin","org_id":"nat-digital","display_name":"A","email":"a@example.jp","state":"active","invited_by":"p-0","key_owner":false,"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"`

func TestCheck(t *testing.T) {
	t.Parallel()
	c := apitest.MustLoad(t)
	const problem = `{"type":"https://hatoba.dev/problems/not-found","title":"Not Found","status":404,"detail":"no such person"}`
	tests := []struct {
		name, method, path, reqBody string
		status                      int
		contentType, body           string
		want                        []string // substrings of the error; none: no error
	}{
		{"ok/a documented person", "GET", "/api/v1/people/p-1", "", 200, "application/json", person + "}", nil},
		{"ok/a problem", "GET", "/api/v1/people/p-9", "", 404, "application/problem+json", problem, nil},
		{"ok/outside the API", "GET", "/envs/e-1", "", 200, "text/html", "<p>", nil},
		{"ok/an unknown path refused", "GET", "/api/v1/nothing", "", 404, "application/problem+json", problem, nil},
		{"ok/a wildcard segment with slashes", "PUT", "/api/v1/secrets/provider/prod", `{"value":"x"}`, 204, "", "", nil},
		{"fail/a member the schema lacks", "GET", "/api/v1/people/p-1", "", 200, "application/json", person + `,"shoe_size":42}`,
			[]string{"GET /api/v1/people/{id} → 200", "$.shoe_size is not in Person", "openapi.json"}},
		{"fail/a nested member the schema lacks", "GET", "/api/v1/people", "", 200, "application/json", `{"items":[` + person + `,"x":1}]}`,
			[]string{"GET /api/v1/people → 200", "$.items[0].x is not in Person"}},
		{"fail/a required member missing", "GET", "/api/v1/people/p-1", "", 200, "application/json", `{"id":"p-1"}`,
			[]string{"does not match", "role"}},
		{"fail/a value of the wrong type", "GET", "/api/v1/people/p-1", "", 200, "application/json", strings.Replace(person, `"key_owner":false`, `"key_owner":"no"`, 1) + "}",
			[]string{"key_owner"}},
		{"fail/a status the operation does not document", "DELETE", "/api/v1/controls/c-1", "", 200, "application/json", `{}`,
			[]string{"DELETE /api/v1/controls/{id} → 200"}},
		{"fail/an undocumented operation answered", "GET", "/api/v1/nothing", "", 200, "application/json", `{}`,
			[]string{"GET /api/v1/nothing: no operation in internal/api/openapi.json"}},
		{"fail/a request the document refuses, accepted", "PUT", "/api/v1/secrets/provider/prod", `{"value":7}`, 204, "", "",
			[]string{"the document refuses this request, yet the server answered 204"}},
		{"ok/a request the document refuses, refused", "PUT", "/api/v1/secrets/provider/prod", `{"value":7}`, 400, "application/problem+json",
			`{"type":"https://hatoba.dev/problems/bad-request","title":"Bad Request","status":400}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.reqBody))
			if tt.reqBody != "" {
				r.Header.Set("Content-Type", "application/json")
			}
			h := http.Header{}
			if tt.contentType != "" {
				h.Set("Content-Type", tt.contentType)
			}
			err := c.Check(r, []byte(tt.reqBody), tt.status, h, []byte(tt.body))
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error; want one saying %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestHandlerReports: the middleware reports a mismatch on the test and
// passes the response through unchanged.
func TestHandlerReports(t *testing.T) {
	t.Parallel()
	c := apitest.MustLoad(t)
	next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(person + `,"extra":true}`))
	})
	rec := &recorder{TB: t}
	srv := httptest.NewServer(c.Handler(rec, next))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/v1/people/p-1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("passed through as %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if !strings.Contains(rec.reported(), "$.extra is not in Person") {
		t.Errorf("the handler did not report the undocumented member; reported %q", rec.reported())
	}
}

// recorder keeps what the handler reports instead of failing the test.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs += fmt.Sprintf(format, args...)
}

func (r *recorder) reported() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.errs
}

// TestDocumentIsValid: the document loads and passes kin-openapi's own
// validation (a 3.1 document: JSON Schema 2020-12).
func TestDocumentIsValid(t *testing.T) {
	t.Parallel()
	if _, err := apitest.Load(); err != nil {
		t.Fatal(err)
	}
}
