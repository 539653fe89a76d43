package api

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/fault"
)

// FuzzDecodeRequest feeds arbitrary bodies to the request decoder and the
// request's validation: neither may panic, a refusal is always a 4xx problem,
// and an accepted request is always a valid one.
func FuzzDecodeRequest(f *testing.F) {
	for _, seed := range []string{
		`{"org_id":"lg-131016","system_name":"住民記録","purpose":"production","classification":"level3","provider":"sim"}`,
		`{"org_id":"x"}`, `{}`, `[]`, `null`, `{"org_id":`, `{"purpose":1}`, "\xff\xfe", `{"system_name":"a\u0000b"}`,
		`{"org_id":"a","org_id":"b"}`, `{"org_id":"a"} {"org_id":"b"}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest("POST", "/api/v1/environments", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		var req env.Request
		if !decodeJSON(w, r, &req) {
			if w.Code < 400 || w.Code > 499 {
				t.Fatalf("refused with status %d", w.Code)
			}
			if w.Header().Get("Content-Type") != "application/problem+json" {
				t.Fatalf("refusal is not a problem: %q", w.Header().Get("Content-Type"))
			}
			return
		}
		if err := req.Validate(); err != nil {
			if fault.KindOf(err) != fault.Invalid {
				t.Fatalf("validation error of kind %s: %v", fault.KindOf(err), err)
			}
			return
		}
		if req.OrgID == "" || req.SystemName == "" || strings.ContainsRune(req.SystemName, 0) {
			t.Fatalf("accepted an invalid request: %+v", req)
		}
	})
}
