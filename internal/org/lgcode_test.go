package org

import (
	"encoding/csv"
	"strings"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/fault"
)

func TestNormalizeLGCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
		wantMsg        []string // substrings of the error message
	}{
		{name: "ok/six digits", in: "131016", want: "131016"},
		{name: "ok/dropped leading zero", in: "10006", want: "010006"},
		{name: "ok/spaces trimmed", in: "  011002 ", want: "011002"},
		{name: "ok/full-width digits", in: "１３１０１６", want: "131016"},
		{name: "ok/remainder 0 gives check digit 1", in: "011011", want: "011011"},
		{name: "ok/remainder 1 gives check digit 0", in: "011070", want: "011070"},
		{name: "fail/wrong check digit", in: "131017", wantMsg: []string{"wrong check digit", "must be 6", "131016"}},
		{name: "fail/dropped zero with wrong check digit", in: "10007", wantMsg: []string{"010007", "should be 6"}},
		{name: "fail/five digits without check digit", in: "13101", wantMsg: []string{"full code is 131016"}},
		{name: "fail/letters", in: "13A016", wantMsg: []string{"digits only"}},
		{name: "fail/sign", in: "-31016", wantMsg: []string{"digits only"}},
		{name: "fail/too short", in: "1310", wantMsg: []string{"has 4 digits"}},
		{name: "fail/too long", in: "1310160", wantMsg: []string{"has 7 digits"}},
		{name: "fail/empty", in: "  ", wantMsg: []string{"empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := NormalizeLGCode(tt.in)
			if tt.wantMsg == nil {
				if err != nil || got != tt.want {
					t.Fatalf("NormalizeLGCode(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
				}
				return
			}
			e, ok := fault.As(err)
			if !ok || e.Kind != fault.Invalid || e.Field != "lg_code" {
				t.Fatalf("NormalizeLGCode(%q) = %q, %v; want an Invalid error on lg_code", tt.in, got, err)
			}
			for _, s := range tt.wantMsg {
				if !strings.Contains(e.Message, s) {
					t.Errorf("message %q does not contain %q", e.Message, s)
				}
			}
		})
	}
}

// TestNormalizeLGCodeEmbedded pins the check-digit rule: every code in the
// published data is valid, and changing its check digit makes it invalid.
func TestNormalizeLGCodeEmbedded(t *testing.T) {
	t.Parallel()
	n := 0
	for _, name := range embeddedFiles[:2] {
		b, err := embedded.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(string(b), "\ufeff"))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		col := -1
		for i, h := range rows[0] {
			if h == "lgcode" {
				col = i
			}
		}
		for i, row := range rows[1:] {
			code, err := NormalizeLGCode(row[col])
			if err != nil {
				t.Errorf("%s:%d: %v", name, i+2, err)
				continue
			}
			last := code[5]
			wrong := code[:5] + string('0'+(last-'0'+1)%10)
			if _, err := NormalizeLGCode(wrong); err == nil {
				t.Errorf("%s:%d: %s with a wrong check digit was accepted", name, i+2, wrong)
			}
			n++
		}
	}
	if n != 47+1916 {
		t.Fatalf("checked %d codes, want %d", n, 47+1916)
	}
}
