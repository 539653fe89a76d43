package api

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestDecodeRefusesWhatIsNotText: invalid UTF-8, lone surrogates and
// invisible format characters in any string of a body are refused with 400
// and the field's path; real text — Japanese, escaped pairs, variation
// selectors, a literal U+FFFD — passes.
func TestDecodeRefusesWhatIsNotText(t *testing.T) {
	t.Parallel()
	type file struct {
		Name    string `json:"name"`
		Content string `json:"content"`
	}
	type input struct {
		SystemName string            `json:"system_name"`
		Files      []file            `json:"files"`
		Tags       map[string]string `json:"tags"`
	}
	tests := []struct {
		name  string
		body  string
		free  textFields
		field string // "" when accepted
	}{
		{"ok/Japanese", `{"system_name":"住民記録システム"}`, nil, ""},
		{"ok/an escaped surrogate pair", `{"system_name":"\ud83d\ude00"}`, nil, ""},
		{"ok/a variation selector (not a format character)", "{\"system_name\":\"葛\U000E0100城市\"}", nil, ""},
		{"ok/a literal replacement character", "{\"system_name\":\"a\uFFFDb\"}", nil, ""},
		{"ok/an escaped backslash before u", `{"system_name":"C:\\ud800"}`, nil, ""},
		{"ok/format characters in a free field", "{\"files\":[{\"name\":\"a.tf\",\"content\":\"x\u200by\"}]}", textFields{"files[].content"}, ""},
		{"fail/invalid UTF-8", "{\"system_name\":\"ab\xff\"}", nil, "system_name"},
		{"fail/invalid UTF-8 in a free field", "{\"files\":[{\"content\":\"\xc3\"}]}", textFields{"files[].content"}, "files[0].content"},
		{"fail/a lone high surrogate", `{"system_name":"a\ud800b"}`, nil, "system_name"},
		{"fail/a lone low surrogate", `{"system_name":"\udc00"}`, nil, "system_name"},
		{"fail/a high surrogate before a non-surrogate", `{"system_name":"\ud800\u0041"}`, nil, "system_name"},
		{"fail/a high surrogate at the end", `{"system_name":"\ud83d"}`, nil, "system_name"},
		{"fail/right-to-left override", "{\"system_name\":\"prod\u202Etxt\"}", nil, "system_name"},
		{"fail/escaped right-to-left override", `{"system_name":"prod\u202etxt"}`, nil, "system_name"},
		{"fail/zero-width space", "{\"system_name\":\"pro\u200Bd\"}", nil, "system_name"},
		{"fail/left-to-right isolate", "{\"system_name\":\"\u2066a\u2069\"}", nil, "system_name"},
		{"fail/first strong isolate", `{"system_name":"\u2068a"}`, nil, "system_name"},
		{"fail/byte-order mark", "{\"system_name\":\"\uFEFFa\"}", nil, "system_name"},
		{"fail/deep in an array", "{\"files\":[{\"name\":\"a\"},{\"name\":\"b\u202E\"}]}", nil, "files[1].name"},
		{"fail/format character outside the free field", "{\"files\":[{\"name\":\"b\u200D\"}]}", textFields{"files[].content"}, "files[0].name"},
		{"fail/in a map key", "{\"tags\":{\"en\u202Ev\":\"x\"}}", nil, `tags["en\u202ev"]`},
		{"fail/in a map value", "{\"tags\":{\"env\":\"\xfe\"}}", nil, "tags.env"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("POST", "/api/v1/x", strings.NewReader(tt.body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		var in input
		ok := decodeJSONText(w, r, &in, tt.free)
		if tt.field == "" {
			if !ok {
				t.Errorf("%s: refused: %s", tt.name, w.Body)
			}
			continue
		}
		var p Problem
		_ = json.Unmarshal(w.Body.Bytes(), &p)
		if ok || w.Code != 400 || p.Field != tt.field || p.Detail == "" {
			t.Errorf("%s: accepted %v, %d %s; want 400 on field %q", tt.name, ok, w.Code, w.Body, tt.field)
		}
	}
}
