package org

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

// FuzzImport feeds arbitrary bytes to Import as one CSV source. It must not
// panic, must fail only with an Invalid error (an unusable header) and then
// write nothing, must count what it created, and must leave every stored
// organisation valid: no half-imported row, no broken hierarchy.
func FuzzImport(f *testing.F) {
	for _, s := range EmbeddedSources() {
		var b bytes.Buffer
		if _, err := b.ReadFrom(s.R); err != nil {
			f.Fatal(err)
		}
		lines := strings.SplitAfter(b.String(), "\n")
		f.Add([]byte(strings.Join(lines[:min(len(lines), 14)], "")))
		f.Add([]byte(lines[0] + strings.Join(lines[len(lines)-3:], "")))
	}
	f.Add([]byte("pid,pref,cid,city,citykana,lat,lng,url,phrase,lgcode\n1,北海道,1100,札幌市,さっぽろし,,,,,11002\n1,北海道,1101,札幌市 中央区,さっぽろし ちゅうおうく,,,,,011011\n"))
	f.Add([]byte("\ufeffpid,pref,cid,city,citykana,lat,lng,url,phrase,lgcode\r\n13,東京都,13101,千代田区,ちよだく,,,,\"\"\"x\"\", y\",131017\r\n"))
	f.Add([]byte("id,kind,name_ja,name_kana,name_en,parent_id\nnat-a,national,甲,,A,nat-b\nnat-b,national,乙,,B,nat-a\n"))
	f.Add([]byte("id,kind,name_ja,name_kana,name_en,parent_id,lg_code\nlg-011002,town,札幌町,,,lg-010006,011002\n"))
	f.Add([]byte("id,kind,name_ja\nnat-x,national,\"unterminated\n"))

	db := storetest.Open(f, store.SQLite)
	r := New(db, time.Now)
	ctx := context.Background()
	// With the prefectures in place municipality rows get as far as their
	// parents.
	if _, err := r.Import(ctx, operator, EmbeddedSources()[0]); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		before, err := r.Count(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := r.Import(ctx, operator, Source{Name: "fuzz.csv", R: bytes.NewReader(data)})
		after, cerr := r.Count(ctx)
		if cerr != nil {
			t.Fatal(cerr)
		}
		if err != nil {
			if fault.KindOf(err) != fault.Invalid {
				t.Fatalf("Import failed with %v; only an unusable header may fail it", err)
			}
			if after != before || rep.Created+rep.Updated != 0 {
				t.Fatalf("a failed import wrote rows: %d → %d, %+v", before, after, rep)
			}
			return
		}
		if after-before != rep.Created {
			t.Fatalf("%d rows appeared but the report says %d created", after-before, rep.Created)
		}
		for _, e := range rep.Errors {
			if e.Source != "fuzz.csv" || e.Line < 1 || e.Message == "" {
				t.Fatalf("row error without source, line or message: %+v", e)
			}
		}
		checkConsistent(t, db)
	})
}

// checkConsistent fails t unless every stored organisation passes the
// validation Create applies, against its stored parent.
func checkConsistent(t *testing.T, db *store.DB) {
	t.Helper()
	all, err := queryOrgs(context.Background(), db, `SELECT `+orgColumns+` FROM organizations`)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]Organization{}
	for _, o := range all {
		byID[o.ID] = o
	}
	for _, o := range all {
		v, err := validate(o)
		if err != nil {
			t.Fatalf("stored %+v is invalid: %v", o, err)
		}
		if v.ID != o.ID || v.LGCode != o.LGCode || v.NameJa != o.NameJa || v.NameKana != o.NameKana || v.NameEn != o.NameEn || v.ParentID != o.ParentID {
			t.Fatalf("stored %+v is not normalised (%+v)", o, v)
		}
		var parent *Organization
		if o.ParentID != "" {
			p, ok := byID[o.ParentID]
			if !ok {
				t.Fatalf("%s has a missing parent %s", o.ID, o.ParentID)
			}
			parent = &p
		}
		if err := checkParent(o, parent); err != nil {
			t.Fatalf("stored %+v: %v", o, err)
		}
		seen := map[string]bool{}
		for id := o.ID; id != ""; id = byID[id].ParentID {
			if seen[id] {
				t.Fatalf("%s is in a cycle", o.ID)
			}
			seen[id] = true
		}
	}
}
