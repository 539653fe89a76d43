package sovereignty_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/fault"

	"github.com/hatoba-cloud/hatoba/internal/sovereignty"
)

func TestCriteriaRegoTests(t *testing.T) {
	t.Parallel()
	n, err := sovereignty.RunTests(context.Background(), sovereignty.DefaultCriteria())
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Fatalf("%d Rego tests passed; the criteria have more", n)
	}
}

func examples(t *testing.T) map[string]sovereignty.Profile {
	t.Helper()
	ps, err := sovereignty.Examples()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]sovereignty.Profile{}
	for _, p := range ps {
		if !p.Example {
			t.Errorf("%s: a shipped profile must be marked example: true", p.Name)
		}
		out[p.Name] = p
	}
	return out
}

var assessedOn = time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)

func TestAssess(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	eng, err := sovereignty.NewEngine(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	ps := examples(t)
	aws, dom := ps["aws-example"], ps["openstack-domestic-example"]
	level3 := sovereignty.DefaultFloors()["level3"]
	tests := []struct {
		name      string
		profile   sovereignty.Profile
		facts     sovereignty.Facts
		levels    string // SOV-1 … SOV-8
		score     float64
		breaches  []string
		exposures []string
		residency []sovereignty.Residency
	}{
		{"aws in Tokyo, provider's keys", aws, sovereignty.Facts{Connection: "sim", ResourceRegions: []string{"ap-northeast-1", "global"}},
			"12212224", 45, []string{"SOV-2", "SOV-3", "SOV-4"}, []string{"us-cloud-act", "us-fisa-702", "us-eo-12333"}, nil},
		{"aws in Tokyo, keys in hatoba's XKS", aws, sovereignty.Facts{Connection: "sim", ResourceRegions: []string{"ap-northeast-1"},
			HYOK: sovereignty.HYOK{Connected: true, KillSwitch: "armed"}},
			"12312224", 47.5, []string{"SOV-2", "SOV-4"}, []string{"us-cloud-act", "us-fisa-702", "us-eo-12333"}, nil},
		{"aws, kill switch pulled", aws, sovereignty.Facts{Connection: "sim", ResourceRegions: []string{"ap-northeast-1"},
			HYOK: sovereignty.HYOK{Connected: true, KillSwitch: "pulled"}},
			"12212224", 45, []string{"SOV-2", "SOV-3", "SOV-4"}, []string{"us-cloud-act", "us-fisa-702", "us-eo-12333"}, nil},
		{"aws, a resource in Virginia", aws, sovereignty.Facts{Connection: "sim", ResourceRegions: []string{"ap-northeast-1", "us-east-1"}},
			"12012224", 40, []string{"SOV-2", "SOV-3", "SOV-4"}, []string{"us-cloud-act", "us-fisa-702", "us-eo-12333"},
			[]sovereignty.Residency{{Region: "us-east-1", Country: "US"}}},
		{"domestic", dom, sovereignty.Facts{Connection: "domestic", ResourceRegions: []string{"jp-east-1"}},
			"44343432", 87.5, nil, nil, nil},
		{"domestic, region the profile does not know", dom, sovereignty.Facts{Connection: "domestic", ResourceRegions: []string{"jp-east-1", "xx-north-9"}},
			"44043432", 80, []string{"SOV-3"}, nil, []sovereignty.Residency{{Region: "xx-north-9"}}},
		{"domestic, backup on another domestic provider, proprietary service", dom, sovereignty.Facts{Connection: "domestic",
			ResourceRegions: []string{"jp-east-1"}, Backups: []sovereignty.Backup{{Connection: "domestic-2", Tier: "domestic", Country: "JP"}},
			ProprietaryServices: []string{"queue"}},
			"44443132", 78.75, nil, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := eng.Assess(ctx, tt.profile, tt.facts, level3, assessedOn)
			if err != nil {
				t.Fatal(err)
			}
			var got strings.Builder
			for _, o := range sovereignty.Objectives {
				fmt.Fprint(&got, a.Levels[o.ID])
			}
			if got.String() != tt.levels || a.Score != tt.score {
				t.Errorf("levels %s score %v; want %s score %v", got.String(), a.Score, tt.levels, tt.score)
			}
			var breaches, exposures []string
			for _, b := range a.Breaches {
				breaches = append(breaches, b.Objective)
			}
			for _, e := range a.Exposures {
				exposures = append(exposures, e.ID)
			}
			if pl := a.Placement; pl.Provider != tt.facts.Connection || pl.Region != tt.facts.ResourceRegions[0] {
				t.Errorf("placement %+v; want %s in %s", pl, tt.facts.Connection, tt.facts.ResourceRegions[0])
			}
			if !slices.Equal(breaches, tt.breaches) || !slices.Equal(exposures, tt.exposures) || !slices.Equal(a.Residency, tt.residency) {
				t.Errorf("breaches %v exposures %v residency %v; want %v %v %v", breaches, exposures, a.Residency, tt.breaches, tt.exposures, tt.residency)
			}
			// Every fact of an example profile is unverified, and the
			// criteria that rely on profile facts say so.
			for _, c := range a.Criteria {
				if c.ID == "domestic_entity" && !slices.Contains(c.Unverified, "operator.country") {
					t.Errorf("criterion %s relies on an unverified fact and does not say so: %+v", c.ID, c)
				}
				if c.ID == "portable_workload" && len(c.Unverified) != 0 {
					t.Errorf("criterion %s relies on the environment's own facts only: %+v", c.ID, c)
				}
			}
		})
	}
}

func TestParseProfileErrors(t *testing.T) {
	t.Parallel()
	ok, err := os.ReadFile("profiles/openstack-domestic-example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, from, to, want string }{
		{"unknown field", "tier: domestic", "tier: domestic\nteir: x", "field teir not found"},
		{"bad tier", "tier: domestic", "tier: sovereign", "tier: domestic or hyperscaler"},
		{"bad country", "country: {value: JP,", "country: {value: Japan,", `operator.country: an ISO 3166-1 alpha-2 country code such as JP, not "Japan"`},
		{"share above 100", "foreign_capital_share: {value: 20", "foreign_capital_share: {value: 120", "operator.foreign_capital_share: a share in per cent"},
		{"http evidence", `evidence: "https://www.ismap.go.jp/csm?id=cloud_service_list"`, `evidence: "http://example.org"`, "certifications.evidence: an https:// link"},
		{"bad date", `reviewed: "2026-12-01"`, `reviewed: "1 Dec 2026"`, "a date as YYYY-MM-DD"},
		{"bad custody mode", "[provider-managed, hyok]", "[provider-managed, escrow]", `key_custody: one of provider-managed, byok, hyok, not "escrow"`},
		{"no regions", "    - {name: jp-east-1, country: JP}\n    - {name: jp-west-1, country: JP}\n", "    []\n", "regions: at least one region"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.Replace(string(ok), tt.from, tt.to, 1)
			if src == string(ok) {
				t.Fatalf("the fixture does not contain %q", tt.from)
			}
			_, err := sovereignty.ParseProfile([]byte(src))
			fe, isFault := fault.As(err)
			if !isFault || fe.Kind != fault.Invalid || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseProfile: %v; want an invalid profile saying %q", err, tt.want)
			}
		})
	}
	if _, err := sovereignty.ParseProfile(nil); err == nil {
		t.Fatal("an empty profile was accepted")
	}
}

func FuzzParseProfile(f *testing.F) {
	for _, n := range []string{"profiles/aws-example.yaml", "profiles/openstack-domestic-example.yaml"} {
		b, err := os.ReadFile(n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("name: x\nregions: {value: [{name: a, country: JP}]}\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		p, err := sovereignty.ParseProfile(src)
		if err != nil {
			if _, ok := fault.As(err); !ok {
				t.Fatalf("a refused profile must be an invalid-input fault: %v", err)
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("a parsed profile does not validate: %v", err)
		}
	})
}
