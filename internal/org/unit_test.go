package org

import (
	"context"
	"strings"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

func TestUnitPath(t *testing.T) {
	t.Parallel()
	hokkaido := Organization{ID: "lg-010006", Kind: KindPrefecture, NameJa: "北海道", NameEn: "Hokkaido"}
	sapporo := Organization{ID: "lg-011002", Kind: KindCity, NameJa: "札幌市", ParentID: hokkaido.ID}
	tokyo := Organization{ID: "lg-130001", Kind: KindPrefecture, NameJa: "東京都", NameEn: "Tokyo"}
	cao := Organization{ID: "nat-cao", Kind: KindNational, NameJa: "内閣府", NameEn: "Cabinet Office"}
	long := strings.Repeat("x", maxUnitName+1)
	tests := []struct {
		name      string
		ancestors []Organization
		o         Organization
		want      string
	}{
		{"ok/national", nil, Organization{ID: "nat-digital", Kind: KindNational, NameEn: "Digital Agency"}, "National/Digital Agency"},
		{"ok/national agency has its own unit", []Organization{cao}, Organization{ID: "nat-caa", Kind: KindNational, NameEn: "Consumer Affairs Agency", ParentID: "nat-cao"}, "National/Consumer Affairs Agency"},
		{"ok/national without english name", nil, Organization{ID: "nat-x", Kind: KindNational, NameJa: "某庁"}, "National/nat-x"},
		{"ok/national with japanese as english name", nil, Organization{ID: "nat-x", Kind: KindNational, NameEn: "某庁"}, "National/nat-x"},
		{"ok/national with too long a name", nil, Organization{ID: "nat-x", Kind: KindNational, NameEn: long}, "National/nat-x"},
		{"ok/national with a slash", nil, Organization{ID: "nat-x", Kind: KindNational, NameEn: "Research/Development"}, "National/Research-Development"},
		{"ok/quasi-public", nil, Organization{ID: "qp-jlis", Kind: KindQuasiPublic, NameEn: "J-LIS"}, "QuasiPublic"},
		{"ok/prefecture", nil, tokyo, "LocalGovernments/Tokyo"},
		{"ok/special ward", []Organization{tokyo}, Organization{ID: "lg-131016", Kind: KindSpecialWard, ParentID: tokyo.ID}, "LocalGovernments/Tokyo"},
		{"ok/city", []Organization{hokkaido}, sapporo, "LocalGovernments/Hokkaido"},
		{"ok/city ward", []Organization{hokkaido, sapporo}, Organization{ID: "lg-011011", Kind: KindCityWard, ParentID: sapporo.ID}, "LocalGovernments/Hokkaido"},
		{"ok/prefecture without english name", nil, Organization{ID: "lg-130001", Kind: KindPrefecture, NameJa: "東京都"}, "LocalGovernments/lg-130001"},
		{"fail/city without prefecture", nil, sapporo, ""},
		{"fail/unknown kind", nil, Organization{ID: "x", Kind: "ministry"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := UnitPath(tt.ancestors, tt.o)
			if strings.Join(got, "/") != tt.want {
				t.Fatalf("UnitPath = %q, want %q", got, tt.want)
			}
			for _, u := range got {
				if len(u) < 1 || len(u) > maxUnitName {
					t.Fatalf("unit name %q is not 1–128 characters", u)
				}
			}
		})
	}
}

func TestUnitPathFor(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		r, _ := newRegistry(db)
		rep, err := r.Import(ctx, operator, EmbeddedSources()...)
		if err != nil || len(rep.Errors) > 0 {
			t.Fatalf("%+v, %v", rep, err)
		}
		tests := []struct{ name, id, want string }{
			{"ok/city ward", "lg-011011", "LocalGovernments/Hokkaido"},
			{"ok/special ward", "lg-131016", "LocalGovernments/Tokyo"},
			{"ok/town at the end of the data", "lg-473821", "LocalGovernments/Okinawa"},
			{"ok/agency", "nat-npa", "National/National Police Agency"},
			{"ok/ministry", "nat-mext", "National/Ministry of Education, Culture, Sports, Science and Technology"},
			{"ok/quasi-public", "qp-jlis", "QuasiPublic"},
			{"fail/not found", "lg-999999", ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := r.UnitPathFor(ctx, tt.id)
				if tt.want == "" {
					if fault.KindOf(err) != fault.NotFound {
						t.Fatalf("err = %v, want NotFound", err)
					}
					return
				}
				if err != nil || strings.Join(got, "/") != tt.want {
					t.Fatalf("UnitPathFor(%s) = %q, %v; want %q", tt.id, got, err, tt.want)
				}
			})
		}
		// Every embedded organisation maps to a valid path.
		for p := (ListParams{Limit: MaxLimit}); ; {
			page, err := r.List(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range page.Items {
				path, err := r.UnitPathFor(ctx, o.ID)
				if err != nil || len(path) == 0 || strings.HasPrefix(path[len(path)-1], "lg-") || strings.HasPrefix(path[len(path)-1], "nat-") {
					t.Fatalf("%s (%s) maps to %q, %v; want a named unit", o.ID, o.NameJa, path, err)
				}
			}
			if p.Cursor = page.NextCursor; p.Cursor == "" {
				break
			}
		}
	})
}
