package org

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

// clock is a test clock that moves only when told.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newRegistry(db *store.DB) (*Registry, *clock) {
	c := &clock{t: time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)}
	return New(db, c.now), c
}

func src(name, body string) Source { return Source{Name: name, R: strings.NewReader(body)} }

// operator is who the tests' changes are made by.
var operator = audit.Acting{Actor: "local:test@host"}

// The embedded data, by kind.
var embeddedKinds = map[Kind]int{
	KindPrefecture: 47, KindCity: 792, KindTown: 743, KindVillage: 183,
	KindSpecialWard: 23, KindCityWard: 175, KindNational: 43, KindQuasiPublic: 5,
}

const embeddedTotal = 47 + 1916 + 48

func importEmbedded(t *testing.T, r *Registry) ImportReport {
	t.Helper()
	start := time.Now()
	rep, err := r.Import(context.Background(), operator, EmbeddedSources()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("imported the embedded data on %s in %s: %+v", r.db.Dialect(), time.Since(start).Round(time.Millisecond), rep)
	return rep
}

func TestImportEmbedded(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		r, clk := newRegistry(db)

		rep := importEmbedded(t, r)
		if rep.Created != embeddedTotal || rep.Updated != 0 || rep.Unchanged != 0 || len(rep.Errors) != 0 {
			t.Fatalf("first import: %+v, want %d created and nothing else", rep, embeddedTotal)
		}
		if n, err := r.Count(ctx); err != nil || n != embeddedTotal {
			t.Fatalf("Count = %d, %v; want %d", n, err, embeddedTotal)
		}
		for kind, want := range embeddedKinds {
			var n int
			if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM organizations WHERE kind = $1`, string(kind)).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != want {
				t.Errorf("%d organisations of kind %s, want %d", n, kind, want)
			}
		}

		t.Run("parents and kinds", func(t *testing.T) {
			tests := []struct {
				name, id, nameJa string
				kind             Kind
				ancestors        []string
			}{
				{"ok/ward of a designated city", "lg-011011", "札幌市 中央区", KindCityWard, []string{"lg-010006", "lg-011002"}},
				{"ok/special ward", "lg-131016", "千代田区", KindSpecialWard, []string{"lg-130001"}},
				{"ok/designated city", "lg-011002", "札幌市", KindCity, []string{"lg-010006"}},
				{"ok/prefecture with dropped zero", "lg-010006", "北海道", KindPrefecture, nil},
				{"ok/town", "lg-013030", "当別町", KindTown, []string{"lg-010006"}},
				{"ok/village", "lg-013048", "新篠津村", KindVillage, []string{"lg-010006"}},
				{"ok/ward in Osaka", "lg-271276", "大阪市 北区", KindCityWard, []string{"lg-270008", "lg-271004"}},
				{"ok/agency under a commission", "nat-npa", "警察庁", KindNational, []string{"nat-cao", "nat-npsc"}},
				{"ok/quasi-public", "qp-jlis", "地方公共団体情報システム機構", KindQuasiPublic, nil},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					o, err := r.Get(ctx, tt.id)
					if err != nil {
						t.Fatal(err)
					}
					if o.NameJa != tt.nameJa || o.Kind != tt.kind {
						t.Errorf("%s is %s (%s), want %s (%s)", tt.id, o.NameJa, o.Kind, tt.nameJa, tt.kind)
					}
					anc, err := r.Ancestors(ctx, tt.id)
					if err != nil {
						t.Fatal(err)
					}
					if got := ids(anc); strings.Join(got, ",") != strings.Join(tt.ancestors, ",") {
						t.Errorf("ancestors of %s = %v, want %v", tt.id, got, tt.ancestors)
					}
				})
			}
		})

		t.Run("children", func(t *testing.T) {
			kids, err := r.Children(ctx, "lg-011002")
			if err != nil || len(kids) != 10 {
				t.Fatalf("札幌市 has %d wards (%v), want 10", len(kids), err)
			}
			kids, err = r.Children(ctx, "lg-130001")
			if err != nil || len(kids) != 62 {
				t.Fatalf("東京都 has %d children (%v), want 62", len(kids), err)
			}
			if _, err := r.Children(ctx, "lg-999999"); fault.KindOf(err) != fault.NotFound {
				t.Fatalf("Children of a missing id: %v, want NotFound", err)
			}
		})

		t.Run("reimport changes nothing", func(t *testing.T) {
			clk.t = clk.t.Add(time.Hour)
			rep := importEmbedded(t, r)
			if rep.Created != 0 || rep.Updated != 0 || rep.Unchanged != embeddedTotal || len(rep.Errors) != 0 {
				t.Fatalf("second import: %+v, want %d unchanged", rep, embeddedTotal)
			}
			o, err := r.Get(ctx, "lg-131016")
			if err != nil || !o.UpdatedAt.Equal(clk.t.Add(-time.Hour)) {
				t.Fatalf("千代田区 updated_at %v (%v); an unchanged row must not be written", o.UpdatedAt, err)
			}
		})

		t.Run("columns a file lacks are kept", func(t *testing.T) {
			rep, err := r.Import(ctx, operator, src("short.csv", "id,kind,name_ja\nnat-fdma,national,消防庁\n"))
			if err != nil || rep.Unchanged != 1 || rep.Updated != 0 {
				t.Fatalf("import: %+v, %v; want 1 unchanged", rep, err)
			}
			o, err := r.Get(ctx, "nat-fdma")
			if err != nil || o.NameEn != "Fire and Disaster Management Agency" || o.ParentID != "nat-mic" || o.NameKana == "" {
				t.Fatalf("after a file without name_en, name_kana and parent_id: %+v, %v", o, err)
			}
		})

		t.Run("a changed name is updated and billing kept", func(t *testing.T) {
			if err := r.SetBilling(ctx, operator, "lg-130001", Contact{Name: "会計課", Email: "billing@metro.tokyo.example"}); err != nil {
				t.Fatal(err)
			}
			clk.t = clk.t.Add(time.Hour)
			rep, err := r.Import(ctx, operator, src("pref.csv", "pid,pref,prefkana,pref_en,lgcode\n13,東京都,とうきょうと,Tokyo Metropolis,130001\n1,北海道,ほっかいどう,Hokkaido,10006\n"))
			if err != nil {
				t.Fatal(err)
			}
			if rep.Created != 0 || rep.Updated != 1 || rep.Unchanged != 1 || len(rep.Errors) != 0 {
				t.Fatalf("import: %+v, want 1 updated and 1 unchanged", rep)
			}
			o, err := r.Get(ctx, "lg-130001")
			if err != nil {
				t.Fatal(err)
			}
			if o.NameEn != "Tokyo Metropolis" || o.Billing.Email != "billing@metro.tokyo.example" || !o.UpdatedAt.Equal(clk.t) || o.CreatedAt.Equal(clk.t) {
				t.Fatalf("after the update: %+v", o)
			}
		})
	})
}

func ids(orgs []Organization) []string {
	var out []string
	for _, o := range orgs {
		out = append(out, o.ID)
	}
	return out
}

const prefHeader = "pid,pref,prefkana,prefshort,prefshortkana,pref_en,pref3code,url,lgcode,ISO3166-2,capital,lat,lng\n"
const prefRows = `1,北海道,ほっかいどう,北海道,ほっかいどう,Hokkaido,HKD,https://www.pref.hokkaido.lg.jp/,10006,JP-01,札幌市,43.063968,141.347899
13,東京都,とうきょうと,東京,とうきょう,Tokyo,TKY,https://www.metro.tokyo.lg.jp/,130001,JP-13,新宿区,35.689568,139.691717
`
const muniHeader = "pid,pref,cid,city,citykana,lat,lng,url,phrase,lgcode\n"

// file is a source's content, read anew for each database.
type file struct{ name, body string }

func TestImportRows(t *testing.T) {
	t.Parallel()
	type wantErr struct {
		line int
		msg  string
	}
	// A source with an error writes nothing, of any source: created is
	// what the import would have made, exists what it makes when clean.
	tests := []struct {
		name    string
		sources []file
		created int
		errs    []wantErr
		exists  []string // ids that must exist afterwards (when no row fails)
		absent  []string // ids that must not
	}{
		{
			name: "ok/BOM, quoted fields, dropped zero, municipalities before prefectures in the call",
			sources: []file{
				{"muni.csv", "\ufeff" + muniHeader +
					"1,北海道,1100,札幌市,さっぽろし,43.06,141.35,https://www.city.sapporo.jp/,\"市民の力, みなぎる\",11002\n" +
					"1,北海道,1101,\"札幌市 中央区\",さっぽろし ちゅうおうく,43.05,141.34,https://www.city.sapporo.jp/chuo/,\"\"\"市電\"\"のふるさと\",011011\n"},
				{"pref.csv", prefHeader + prefRows},
			},
			created: 4,
			exists:  []string{"lg-010006", "lg-130001", "lg-011002", "lg-011011"},
		},
		{
			name: "ok/CRLF line ends and a registry file",
			sources: []file{{"national.csv", "id,kind,name_ja,name_kana,name_en,parent_id\r\n" +
				"nat-mic,national,総務省,そうむしょう,Ministry of Internal Affairs and Communications,\r\n" +
				"nat-fdma,national,消防庁,しょうぼうちょう,Fire and Disaster Management Agency,nat-mic\r\n"}},
			created: 2,
			exists:  []string{"nat-mic", "nat-fdma"},
		},
		{
			name: "fail/bad check digit is reported with its line, nothing imported",
			sources: []file{{"pref.csv", prefHeader + prefRows},
				{"muni.csv", muniHeader +
					"13,東京都,13101,千代田区,ちよだく,35.69,139.75,https://www.city.chiyoda.lg.jp/,,131017\n" +
					"13,東京都,13102,中央区,ちゅうおうく,35.67,139.77,https://www.city.chuo.lg.jp/,,131024\n"}},
			created: 3,
			errs:    []wantErr{{2, "check digit"}},
			exists:  []string{"lg-131024"},
			absent:  []string{"lg-131016", "lg-131017"},
		},
		{
			name: "fail/unknown prefecture",
			sources: []file{{"muni.csv", muniHeader +
				"27,大阪府,27100,大阪市,おおさかし,34.69,135.50,https://www.city.osaka.lg.jp/,,271004\n"}},
			errs:   []wantErr{{2, "prefecture 27 (大阪府, lg-270008) is not in the registry"}},
			absent: []string{"lg-271004"},
		},
		{
			name: "fail/missing name, wrong field count, ward before its city, pid mismatch, unknown suffix",
			sources: []file{{"pref.csv", prefHeader + prefRows}, {"muni.csv", muniHeader +
				"1,北海道,1101,札幌市 中央区,さっぽろし ちゅうおうく,43.05,141.34,,,011011\n" +
				"13,東京都,13101,,ちよだく,35.69,139.75,,,131016\n" +
				"13,東京都,13102,中央区,ちゅうおうく,35.67,139.77,,131024\n" +
				"1,東京都,13103,港区,みなとく,35.66,139.75,,,131032\n" +
				"13,東京都,13104,新宿,しんじゅく,35.69,139.70,,,131041\n" +
				"13,東京都,13105,文京区,ぶんきょうく,35.71,139.75,,,131059\n" +
				"1,北海道,1102,北区,きたく,43.09,141.34,,,011029\n" +
				"1,東京都,1100,札幌市,さっぽろし,43.06,141.35,,,011002\n"}},
			created: 3,
			errs: []wantErr{
				{2, "designated city 札幌市 of ward 札幌市 中央区 is not in 北海道"},
				{3, "name (city) is empty"},
				{4, "9 fields but the header has 10"},
				{5, "lgcode 131032 is in prefecture 13, but pid is 1"},
				{6, "cannot tell the kind"},
				{8, "a ward outside 東京都"},
				{9, "pref is \"東京都\", but prefecture 1 is 北海道"},
			},
			exists: []string{"lg-131059"},
			absent: []string{"lg-011011", "lg-011002"},
		},
		{
			name: "fail/a re-parent that makes a cycle, a kind change that orphans wards",
			sources: []file{{"pref.csv", prefHeader + prefRows},
				{"muni.csv", muniHeader + "1,北海道,1100,札幌市,さっぽろし,,,,,011002\n1,北海道,1101,札幌市 中央区,さっぽろし ちゅうおうく,,,,,011011\n"},
				{"a.csv", "id,kind,name_ja,parent_id\nnat-a,national,甲,\nnat-b,national,乙,nat-a\n"},
				{"b.csv", "id,kind,name_ja,parent_id\nnat-a,national,甲,nat-b\n"},
				{"c.csv", "id,kind,name_ja,parent_id,lg_code\nlg-011002,town,札幌町,lg-010006,011002\n"}},
			created: 6,
			errs: []wantErr{
				{2, "would make nat-a its own ancestor"},
				{2, "cannot become a town: its child lg-011011 would be invalid"},
			},
			exists: []string{"nat-a", "nat-b", "lg-011011"},
		},
		{
			name: "fail/registry rows: bad id, missing parent, duplicate, wrong parent kind, bad CSV",
			sources: []file{{"pref.csv", prefHeader + prefRows}, {"national.csv", "id,kind,name_ja,name_kana,name_en,parent_id\n" +
				"nat-ok,national,良い庁,,Good Agency,\n" +
				"NAT-bad,national,悪い庁,,Bad,\n" +
				"nat-orphan,national,孤児庁,,Orphan,nat-missing\n" +
				"nat-ok,national,良い庁,,Good Agency,\n" +
				"nat-sub,national,下の庁,,Sub,lg-130001\n" +
				"nat-q,nat\"ional,引用,,Q,\n" +
				"qp-x,quasi_public,法人,,X,\n"}},
			created: 4,
			errs: []wantErr{
				{3, "must be \"nat-\""},
				{4, "parent_id \"nat-missing\" does not exist"},
				{5, "nat-ok is also on line 2"},
				{6, "the parent of a national must be a national"},
				{7, "not valid CSV"},
			},
			exists: []string{"nat-ok", "qp-x"},
			absent: []string{"nat-orphan", "nat-sub", "nat-q"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				ctx := context.Background()
				r, _ := newRegistry(db)
				var sources []Source
				for _, f := range tt.sources {
					sources = append(sources, src(f.name, f.body))
				}
				rep, err := r.Import(ctx, operator, sources...)
				if err != nil {
					t.Fatal(err)
				}
				if rep.Applied != (len(tt.errs) == 0) {
					t.Errorf("applied = %v with %d errors", rep.Applied, len(rep.Errors))
				}
				if rep.Created != tt.created {
					t.Errorf("created %d, want %d", rep.Created, tt.created)
				}
				if len(rep.Errors) != len(tt.errs) {
					t.Errorf("errors %+v, want %d", rep.Errors, len(tt.errs))
				}
				for i, w := range tt.errs {
					if i >= len(rep.Errors) {
						break
					}
					if e := rep.Errors[i]; e.Line != w.line || !strings.Contains(e.Message, w.msg) || e.Source == "" {
						t.Errorf("error %d = %s:%d: %s; want line %d with %q", i, e.Source, e.Line, e.Message, w.line, w.msg)
					}
				}
				want := tt.created
				if len(tt.errs) > 0 {
					want = 0
					tt.absent = append(tt.absent, tt.exists...)
					tt.exists = nil
				}
				for _, id := range tt.exists {
					if _, err := r.Get(ctx, id); err != nil {
						t.Errorf("%s: %v", id, err)
					}
				}
				for _, id := range tt.absent {
					if _, err := r.Get(ctx, id); fault.KindOf(err) != fault.NotFound {
						t.Errorf("%s exists (%v), want it absent", id, err)
					}
				}
				if n, err := r.Count(ctx); err != nil || n != want {
					t.Errorf("Count = %d, %v; want %d", n, err, want)
				}
			})
		})
	}
}

func TestImportHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		msg  string
	}{
		{"fail/empty", "", "is empty"},
		{"fail/only a BOM", "\ufeff", "is empty"},
		{"fail/unknown columns", "a,b,c\n1,2,3\n", "not one hatoba knows"},
		{"fail/duplicate column", "id,kind,name_ja,id\n", "twice"},
		{"fail/broken header", "id,\"kind\n", "not valid CSV"},
	}
	db := storetest.Open(t, store.SQLite)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := newRegistry(db)
			// The good source must not be applied when another is unusable.
			_, err := r.Import(context.Background(), operator, src("good.csv", prefHeader+prefRows), src("bad.csv", tt.body))
			if fault.KindOf(err) != fault.Invalid || !strings.Contains(err.Error(), tt.msg) || !strings.Contains(err.Error(), "bad.csv") {
				t.Fatalf("err = %v, want Invalid naming bad.csv with %q", err, tt.msg)
			}
			if n, err := r.Count(context.Background()); err != nil || n != 0 {
				t.Fatalf("Count = %d, %v; want nothing imported", n, err)
			}
		})
	}
}

func TestImportTooManyErrors(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString(prefHeader)
	for i := 0; i < maxRowErrors+10; i++ {
		fmt.Fprintf(&b, "99,無,む,無,む,None,NON,,990000,JP-99,,0,0\n")
	}
	r, _ := newRegistry(storetest.Open(t, store.SQLite))
	rep, err := r.Import(context.Background(), operator, src("junk.csv", b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Errors) != maxRowErrors+1 || !strings.Contains(rep.Errors[maxRowErrors].Message, "was not read") {
		t.Fatalf("%d errors, last %+v", len(rep.Errors), rep.Errors[len(rep.Errors)-1])
	}
}

// BenchmarkImportEmbedded imports the full built-in data into an empty
// database, and again into a full one (nothing changes).
func BenchmarkImportEmbedded(b *testing.B) {
	for _, d := range storetest.Dialects {
		for _, full := range []bool{false, true} {
			name := string(d) + "/empty"
			if full {
				name = string(d) + "/reimport"
			}
			b.Run(name, func(b *testing.B) {
				ctx := context.Background()
				for b.Loop() {
					b.StopTimer()
					r := New(storetest.Open(b, d), nil)
					if full {
						if _, err := r.Import(ctx, operator, EmbeddedSources()...); err != nil {
							b.Fatal(err)
						}
					}
					srcs := EmbeddedSources()
					b.StartTimer()
					if _, err := r.Import(ctx, operator, srcs...); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestImportBilling: a registry file may carry billing contacts; each row's
// must be complete — an empty or half contact is an error and the file
// writes nothing — and a file without the columns keeps stored contacts.
func TestImportBilling(t *testing.T) {
	t.Parallel()
	const header = "id,kind,name_ja,billing_name,billing_email,billing_phone\n"
	tests := []struct {
		name, body, msg string // msg: "" when the file imports
	}{
		{"ok/complete contacts", header + "nat-a,national,甲庁,会計課,billing@a.example.go.jp,03-0000-0000\nnat-b,national,乙庁,経理,b@b.example.go.jp,\n", ""},
		{"fail/every field empty", header + "nat-a,national,甲庁,会計課,billing@a.example.go.jp,\nnat-b,national,乙庁,,,\n", "billing contact is empty"},
		{"fail/white space only", header + "nat-b,national,乙庁, ,　, \n", "billing contact is empty"},
		{"fail/no e-mail", header + "nat-b,national,乙庁,経理,,03-0000-0000\n", "needs an e-mail address"},
		{"fail/no name", header + "nat-b,national,乙庁,,b@b.example.go.jp,\n", "needs a name"},
		{"fail/not an address", header + "nat-b,national,乙庁,経理,b at b,\n", "is not an e-mail address"},
		{"fail/bad phone", header + "nat-b,national,乙庁,経理,b@b.example.go.jp,call me\n", "may contain only digits"},
		{"fail/hidden characters", header + "nat-b,national,乙庁,経\u202e理,b@b.example.go.jp,\n", "invisible format character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				ctx := context.Background()
				r, _ := newRegistry(db)
				rep, err := r.Import(ctx, operator, src("billing.csv", tt.body))
				if err != nil {
					t.Fatal(err)
				}
				n, err := r.Count(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if tt.msg == "" {
					if !rep.Applied || len(rep.Errors) != 0 || n != 2 {
						t.Fatalf("%+v, %d stored", rep, n)
					}
					o, err := r.Get(ctx, "nat-a")
					if err != nil || o.Billing != (Contact{Name: "会計課", Email: "billing@a.example.go.jp", Phone: "03-0000-0000"}) {
						t.Fatalf("nat-a: %+v, %v", o.Billing, err)
					}
					return
				}
				if rep.Applied || n != 0 || len(rep.Errors) != 1 || !strings.Contains(rep.Errors[0].Message, tt.msg) || rep.Errors[0].Source != "billing.csv" {
					t.Fatalf("%+v, %d stored; want one error with %q and nothing written", rep, n, tt.msg)
				}
			})
		})
	}
	t.Run("fail/half the columns", func(t *testing.T) {
		t.Parallel()
		r, _ := newRegistry(storetest.Open(t, store.SQLite))
		_, err := r.Import(context.Background(), operator, src("half.csv", "id,kind,name_ja,billing_name\nnat-a,national,甲庁,会計課\n"))
		if fault.KindOf(err) != fault.Invalid || !strings.Contains(err.Error(), "billing_email") {
			t.Fatalf("err = %v, want Invalid naming billing_email", err)
		}
	})
}

// TestImportDryRun: a dry run reports the counts, the changed rows field
// by field and the errors, and writes nothing; the import that follows
// does what it said.
func TestImportDryRun(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		r, clk := newRegistry(db)
		first := "id,kind,name_ja,name_en,billing_name,billing_email\n" +
			"nat-a,national,甲庁,A Agency,会計課,billing@a.example.go.jp\n" +
			"nat-b,national,乙庁,B Agency,経理,b@b.example.go.jp\n"
		if rep, err := r.Import(ctx, operator, src("first.csv", first)); err != nil || !rep.Applied || rep.Created != 2 {
			t.Fatalf("first import: %+v, %v", rep, err)
		}
		next := "id,kind,name_ja,name_en,billing_name,billing_email\n" +
			"nat-a,national,甲庁,A Agency,会計課,billing@a.example.go.jp\n" +
			"nat-b,national,乙庁,Agency B,経理,accounts@b.example.go.jp\n" +
			"nat-c,national,丙庁,C Agency,総務,c@c.example.go.jp\n"
		clk.t = clk.t.Add(time.Hour)
		dry, err := r.DryRun(ctx, src("next.csv", next))
		if err != nil {
			t.Fatal(err)
		}
		wantChange := []Change{{ID: "nat-b", Source: "next.csv", Line: 3, Fields: []FieldChange{
			{Field: "name_en", Old: "B Agency", New: "Agency B"},
			{Field: "billing_email", Old: "b@b.example.go.jp", New: "accounts@b.example.go.jp"}}}}
		if !dry.DryRun || dry.Applied || dry.Created != 1 || dry.Updated != 1 || dry.Unchanged != 1 || len(dry.Errors) != 0 ||
			fmt.Sprint(dry.Changes) != fmt.Sprint(wantChange) {
			t.Fatalf("dry run: %+v\nwant changes %+v", dry, wantChange)
		}
		if _, err := r.Get(ctx, "nat-c"); fault.KindOf(err) != fault.NotFound {
			t.Fatalf("the dry run wrote nat-c: %v", err)
		}
		if o, _ := r.Get(ctx, "nat-b"); o.NameEn != "B Agency" {
			t.Fatalf("the dry run changed nat-b: %+v", o)
		}
		// A dry run of a file with errors lists them and the good rows'
		// effect alike.
		bad, err := r.DryRun(ctx, src("bad.csv", next+"nat-d,national,丁庁,D,,\n"))
		if err != nil || len(bad.Errors) != 1 || bad.Errors[0].Line != 5 || bad.Created != 1 || bad.Updated != 1 {
			t.Fatalf("dry run with an error: %+v, %v", bad, err)
		}
		done, err := r.Import(ctx, operator, src("next.csv", next))
		if err != nil || !done.Applied || done.DryRun || done.Created != dry.Created || done.Updated != dry.Updated ||
			fmt.Sprint(done.Changes) != fmt.Sprint(dry.Changes) {
			t.Fatalf("import after the dry run: %+v, %v", done, err)
		}
		if o, _ := r.Get(ctx, "nat-b"); o.NameEn != "Agency B" || o.Billing.Email != "accounts@b.example.go.jp" {
			t.Fatalf("nat-b after the import: %+v", o)
		}
	})
}
