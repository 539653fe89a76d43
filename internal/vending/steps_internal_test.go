package vending

import (
	"regexp"
	"strings"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/env"
)

// awsAccountName is the pattern and length AWS Organizations accepts.
var awsAccountName = regexp.MustCompile(`^[\x20-\x7e]{1,50}$`)

func TestAccountSpecNameIsValidForAWS(t *testing.T) {
	t.Parallel()
	const id = "env-nmdsochtlzj63sye"
	tests := []struct {
		system string
		want   string
	}{
		{"tax", id + " tax"},
		{"住民記録", id + " lg-131016"},
		{"住民記録 juminhyo v2", id + " juminhyo v2"},
		{"e-procurement\tsystem", id + " e-procurement system"},
		{strings.Repeat("x", 60), id + " " + strings.Repeat("x", 50-len(id)-1)},
	}
	for _, tt := range tests {
		t.Run(tt.system, func(t *testing.T) {
			got := accountSpec(env.Environment{ID: id, OrgID: "lg-131016", SystemName: tt.system, AccountEmail: "a@b.example"})
			if got.Name != tt.want {
				t.Fatalf("name %q, want %q", got.Name, tt.want)
			}
			if !awsAccountName.MatchString(got.Name) {
				t.Fatalf("name %q would be refused by AWS", got.Name)
			}
		})
	}
}
