package sovereignty_test

import (
	"context"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/hatoba-cloud/hatoba/internal/sovereignty"
)

func TestExposeNamesEveryPartyAndItsMitigation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	eng, err := sovereignty.NewEngine(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	aws := examples(t)["aws-example"]
	grantAt := assessedOn.Add(-48 * time.Hour)
	facts := sovereignty.Facts{Environment: "env-1", Classification: "level3", Connection: "sim", ResourceRegions: []string{"ap-northeast-1"},
		HYOK: sovereignty.HYOK{Connected: true, KillSwitch: "armed"},
		People: []sovereignty.Person{{ID: "p-1", Name: "山田 太郎", Role: "administrator"}, {ID: "p-2", Name: "佐藤 花子", Role: "key-owner"},
			{ID: "p-9", Name: "中央 運用", Role: "break-glass", Central: true, Grant: "g-1", At: grantAt}}}
	a, err := eng.Assess(ctx, aws, facts, sovereignty.DefaultFloors()["level3"], assessedOn)
	if err != nil {
		t.Fatal(err)
	}
	r := sovereignty.Expose(a, aws, facts)
	var got []string
	for _, p := range r.Parties {
		got = append(got, p.Kind+":"+p.Path+":"+strings.Join(p.Mitigations, "+"))
	}
	want := []string{"provider:operates:hyok_armed", "parent:controls:hyok_armed", "authority:compelled:hyok_armed", "authority:compelled:hyok_armed",
		"authority:collection:hyok_armed", "tenant:administrator:", "tenant:key_owner:", "central:break_glass:time_boxed+tenant_approved"}
	if !slices.Equal(got, want) {
		t.Errorf("parties:\n got %v\nwant %v", got, want)
	}
	for _, s := range []string{"CLOUD Act", "decryptable only while hatoba's XKS proxy answers", "break-glass", "below the level3 floors: SOV-2 2<3, SOV-4 1<3", "EXAMPLE profile"} {
		if !strings.Contains(r.Summary, s) {
			t.Errorf("summary lacks %q: %s", s, r.Summary)
		}
	}
}

func TestSnapshotVerifiesAndRefusesChanges(t *testing.T) {
	t.Parallel()
	skey, vkey, err := note.GenerateKey(nil, "hatoba.test/audit")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	verifier, _ := note.NewVerifier(vkey)
	r := sovereignty.Report{Assessment: sovereignty.Assessment{Environment: "env-1", Score: 45, AssessedAt: assessedOn}, Summary: "s"}
	snap, err := sovereignty.Sign(r, signer)
	if err != nil {
		t.Fatal(err)
	}
	back, err := sovereignty.Verify(snap, verifier)
	if err != nil || back.Score != 45 {
		t.Fatalf("Verify: %v (score %v)", err, back.Score)
	}
	changed := snap
	changed.Report = json.RawMessage(strings.Replace(string(snap.Report), `"score":45`, `"score":95`, 1))
	if _, err := sovereignty.Verify(changed, verifier); err == nil || !strings.Contains(err.Error(), "does not match its signature") {
		t.Fatalf("a changed report verified: %v", err)
	}
	_, otherV, _ := note.GenerateKey(nil, "hatoba.test/audit")
	ov, _ := note.NewVerifier(otherV)
	if _, err := sovereignty.Verify(snap, ov); err == nil {
		t.Fatal("a snapshot verified with another key")
	}
}

func TestConcentrationAndBlastRadius(t *testing.T) {
	t.Parallel()
	ps := []sovereignty.Placement{
		{Environment: "e1", Organization: "lg-131016", Prefecture: "13", System: "住民記録", Provider: "aws", Region: "ap-northeast-1", Zones: []string{"apne1-az1"}},
		{Environment: "e2", Organization: "lg-131016", Prefecture: "13", System: "住民記録", Provider: "domestic", Region: "jp-east-1", Zones: []string{"z1"}},
		{Environment: "e3", Organization: "lg-011002", Prefecture: "01", System: "税", Provider: "aws", Region: "ap-northeast-1", Zones: []string{"apne1-az1", "apne1-az2"}},
		{Environment: "e4", Organization: "lg-011002", Prefecture: "01", System: "福祉", Provider: "aws", Region: "ap-northeast-3", Zones: []string{"apne3-az1"},
			BackupProviders: []string{"domestic"}},
	}
	cs := sovereignty.Concentrations(ps)
	byProvider := cs[0]
	// aws 3 of 4, domestic 1 of 4: 75² + 25² = 6,250.
	if byProvider.By != "provider" || math.Abs(byProvider.HHI-6250) > 1e-9 || byProvider.Shares[0].Key != "aws" || byProvider.Shares[0].Systems != 3 {
		t.Errorf("by provider: %+v", byProvider)
	}
	tests := []struct {
		outage sovereignty.Outage
		want   []string // org/system/fallback
	}{
		{sovereignty.Outage{Provider: "aws"}, []string{"lg-011002/福祉/true", "lg-011002/税/false", "lg-131016/住民記録/true"}},
		{sovereignty.Outage{Provider: "aws", Region: "ap-northeast-1"}, []string{"lg-011002/税/false", "lg-131016/住民記録/true"}},
		// e3 spans two zones and survives one zone's loss.
		{sovereignty.Outage{Provider: "aws", Zone: "apne1-az1"}, []string{"lg-131016/住民記録/true"}},
		{sovereignty.Outage{Provider: "domestic"}, []string{"lg-131016/住民記録/true"}},
	}
	for _, tt := range tests {
		var got []string
		for _, a := range sovereignty.BlastRadius(ps, tt.outage) {
			got = append(got, a.Organization+"/"+a.System+"/"+map[bool]string{true: "true", false: "false"}[a.Fallback])
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("outage %+v: %v; want %v", tt.outage, got, tt.want)
		}
	}
}

func TestPrefectureOf(t *testing.T) {
	t.Parallel()
	for org, want := range map[string]string{"lg-131016": "13", "lg-011002": "01", "lg-470007": "47", "lg-480001": "", "lg-001": "",
		"nat-digital": "", "lg-": "", "lg-9": "", "qp-131016": ""} {
		if got := sovereignty.PrefectureOf(org); got != want {
			t.Errorf("PrefectureOf(%q) = %q; want %q", org, got, want)
		}
	}
}
