package env_test

import (
	"errors"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/fault"
)

func TestRequestValidate(t *testing.T) {
	t.Parallel()
	valid := env.Request{OrgID: "lg-131016", SystemName: "住民記録", Purpose: env.Production, Classification: env.Level2, Provider: "sim"}
	tests := []struct {
		name      string
		change    func(*env.Request)
		wantField string // "" means valid
	}{
		{"valid Japanese name", func(*env.Request) {}, ""},
		{"40 characters of Japanese", func(r *env.Request) { r.SystemName = strings.Repeat("住", 40) }, ""},
		{"no organisation", func(r *env.Request) { r.OrgID = " " }, "org_id"},
		{"no system name", func(r *env.Request) { r.SystemName = "" }, "system_name"},
		{"41 characters", func(r *env.Request) { r.SystemName = strings.Repeat("a", 41) }, "system_name"},
		{"control character", func(r *env.Request) { r.SystemName = "tax\nsystem" }, "system_name"},
		{"right-to-left override", func(r *env.Request) { r.SystemName = "住民\u202e記録" }, "system_name"},
		{"zero-width space", func(r *env.Request) { r.SystemName = "住民\u200b記録" }, "system_name"},
		{"invalid UTF-8", func(r *env.Request) { r.SystemName = "住民\xff" }, "system_name"},
		{"middle dot and parentheses are text", func(r *env.Request) { r.SystemName = "税・料金（本番）" }, ""},
		{"unknown purpose", func(r *env.Request) { r.Purpose = "testing" }, "purpose"},
		{"unknown classification", func(r *env.Request) { r.Classification = "secret" }, "classification"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := valid
			tt.change(&req)
			err := req.Validate()
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			fe, ok := fault.As(err)
			if !ok || fe.Kind != fault.Invalid || fe.Field != tt.wantField {
				t.Fatalf("err = %v, want an invalid %s", err, tt.wantField)
			}
		})
	}
}

func TestRulesCheck(t *testing.T) {
	t.Parallel()
	req := env.Request{OrgID: "lg-131016", Classification: env.Level3, Provider: "sim"}
	tests := []struct {
		name        string
		rules       env.Rules
		live        int
		wantReasons int
	}{
		{"within quota, allowed", env.Rules{Quota: 2, Allowed: []env.Classification{env.Level3}}, 1, 0},
		{"at quota", env.Rules{Quota: 2, Allowed: []env.Classification{env.Level3}}, 2, 1},
		{"classification not allowed", env.Rules{Quota: 2, Allowed: []env.Classification{env.Level1, env.Level2}}, 0, 1},
		{"both", env.Rules{Quota: 0, Allowed: nil}, 0, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.rules.Check(req, tt.live); len(got) != tt.wantReasons {
				t.Fatalf("reasons %q, want %d", got, tt.wantReasons)
			}
		})
	}
}

// TestNewIDSortsByAge: ids sort by creation time, which keyset pagination
// ("newest first") relies on.
func TestNewIDSortsByAge(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 50 {
		id := env.NewID(base.Add(time.Duration(i) * time.Second))
		if !env.ValidID(id) {
			t.Fatalf("id %q has the wrong shape", id)
		}
		ids = append(ids, id)
	}
	if !sort.StringsAreSorted(ids) {
		t.Fatalf("ids do not sort by age: %v", ids)
	}
}

// Every invalid field is reported at once, in the form's order, and the
// error still reads as the first field's fault to callers that know only
// faults.
func TestRequestValidateReportsEveryField(t *testing.T) {
	t.Parallel()
	err := env.Request{SystemName: strings.Repeat("a", 41), Purpose: "testing"}.Validate()
	var v *env.ValidationError
	if !errors.As(err, &v) {
		t.Fatalf("err = %v, want a *env.ValidationError", err)
	}
	var got []string
	for _, f := range v.Fields {
		got = append(got, f.Field+":"+f.Reason)
	}
	want := []string{"org_id:required", "system_name:too_long", "purpose:choose", "classification:choose"}
	if !slices.Equal(got, want) {
		t.Fatalf("fields %v, want %v", got, want)
	}
	if args := v.Fields[1].Args; len(args) != 2 || args[0] != 41 || args[1] != env.MaxSystemName {
		t.Errorf("too_long args %v", args)
	}
	fe, ok := fault.As(err)
	if !ok || fe.Kind != fault.Invalid || fe.Field != "org_id" || fe.Message != "org_id is required" {
		t.Errorf("as a fault: %+v", fe)
	}
}
