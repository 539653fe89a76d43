package mfa_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/mfa"
)

func TestScriptHandler(t *testing.T) {
	t.Parallel()
	h := mfa.ScriptHandler()
	tests := []struct {
		name, method, ifNoneMatch string
		status                    int
		body                      bool
	}{
		{"ok/get", http.MethodGet, "", http.StatusOK, true},
		{"ok/head", http.MethodHead, "", http.StatusOK, false},
		{"ok/cached copy still good", http.MethodGet, `"` + mfa.ScriptVersion() + `"`, http.StatusNotModified, false},
		{"ok/cached copy stale", http.MethodGet, `"0000"`, http.StatusOK, true},
		{"fail/post", http.MethodPost, "", http.StatusMethodNotAllowed, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "/static/webauthn.js", nil)
			if tt.ifNoneMatch != "" {
				r.Header.Set("If-None-Match", tt.ifNoneMatch)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d", w.Code, tt.status)
			}
			if tt.status != http.StatusOK {
				return
			}
			if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
				t.Errorf("Content-Type %q", ct)
			}
			if tt.body && !bytes.Equal(w.Body.Bytes(), mfa.Script()) {
				t.Errorf("body is not webauthn.js")
			}
		})
	}
	if !bytes.Contains(mfa.Script(), []byte("navigator.credentials")) {
		t.Fatal("Script() is not webauthn.js")
	}
}

func TestReadFinishRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body string
		ok         bool
	}{
		{"ok/registration", `{"ceremony":"c1","credential":{"id":"x"},"name":"blue"}`, true},
		{"ok/assertion", `{"ceremony":"c1","credential":{"id":"x"}}`, true},
		{"fail/empty", ``, false},
		{"fail/not json", `ceremony=c1`, false},
		{"fail/no ceremony", `{"credential":{"id":"x"}}`, false},
		{"fail/no credential", `{"ceremony":"c1"}`, false},
		{"fail/null credential", `{"ceremony":"c1","credential":null}`, false},
		{"fail/unknown field", `{"ceremony":"c1","credential":{},"person":"root"}`, false},
		{"fail/trailing data", `{"ceremony":"c1","credential":{}} {}`, false},
		{"fail/too large", `{"ceremony":"c1","credential":"` + strings.Repeat("A", mfa.MaxResponseBytes+8<<10) + `"}`, false},
		{"fail/name too long", `{"ceremony":"c1","credential":{},"name":"` + strings.Repeat("x", 1000) + `"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := mfa.ReadFinishRequest(strings.NewReader(tt.body))
			if !tt.ok {
				if fault.KindOf(err) != fault.Invalid {
					t.Fatalf("ReadFinishRequest = %v, %v; want an Invalid error", req, err)
				}
				return
			}
			if err != nil || req.Ceremony != "c1" || len(req.Credential) == 0 {
				t.Fatalf("ReadFinishRequest = %v, %v", req, err)
			}
		})
	}
}

func FuzzReadFinishRequest(f *testing.F) {
	f.Add([]byte(`{"ceremony":"c1","credential":{"id":"x"},"name":"blue"}`))
	f.Add([]byte(`{"ceremony":"","credential":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := mfa.ReadFinishRequest(bytes.NewReader(body))
		if err != nil {
			if fault.KindOf(err) != fault.Invalid {
				t.Fatalf("error of kind %s: %v", fault.KindOf(err), err)
			}
			return
		}
		if strings.TrimSpace(req.Ceremony) == "" || len(req.Credential) == 0 {
			t.Fatalf("accepted %q as %v", body, req)
		}
	})
}
