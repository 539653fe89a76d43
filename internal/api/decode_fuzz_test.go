package api

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

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
		`{"system_name":"\ud800"}`, `{"system_name":"\ud83d\ude00"}`, "{\"system_name\":\"a\u202eb\"}",
		"{\"system_name\":\"\xed\xa0\x80\"}", `{"system_name":"\\ud800"}`, "{\"org_id\u200b\":\"x\"}",
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

// FuzzCheckText: whatever the body, checkText does not panic; a valid
// JSON body it accepts is UTF-8 without lone surrogates, and no string in
// it — names or values, at any depth — holds a format character or a
// replacement character the sender did not write.
func FuzzCheckText(f *testing.F) {
	for _, seed := range []string{
		`{}`, `[]`, `"a"`, `{"a":["b",{"c":"d"}]}`, `{"a":"\ud800"}`, `{"a":"\udc00\ud800"}`, `{"a":"\ud83d\ude00"}`,
		"{\"a\":\"\u2066\"}", `{"a\u202e":1}`, "[\"\xff\"]", `{"a":"\\u"}`, `{"a":"\ufffd"}`, `{"a":`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		err := checkText([]byte(body), nil)
		var v any
		if err != nil || json.Unmarshal([]byte(body), &v) != nil {
			return
		}
		if !utf8.ValidString(body) {
			t.Fatalf("accepted invalid UTF-8: %q", body)
		}
		if esc, ok := loneSurrogate([]byte(`"` + body)); ok {
			t.Fatalf("accepted a lone surrogate %s: %q", esc, body)
		}
		sentFFFD := strings.ContainsRune(body, utf8.RuneError) || strings.Contains(strings.ToLower(body), `\ufffd`)
		var walk func(any)
		check := func(s string) {
			for _, r := range s {
				if unicode.Is(unicode.Cf, r) || r == utf8.RuneError && !sentFFFD {
					t.Fatalf("accepted %U in %q", r, body)
				}
			}
		}
		walk = func(v any) {
			switch v := v.(type) {
			case string:
				check(v)
			case []any:
				for _, e := range v {
					walk(e)
				}
			case map[string]any:
				for k, e := range v {
					check(k)
					walk(e)
				}
			}
		}
		walk(v)
	})
}
