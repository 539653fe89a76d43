package org

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

func TestList(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		r, _ := newRegistry(db)
		importEmbedded(t, r)

		t.Run("walk all pages", func(t *testing.T) {
			for _, limit := range []int{0, 7, 500} {
				seen := map[string]bool{}
				last, pages := "", 0
				p := ListParams{Limit: limit}
				for {
					page, err := r.List(ctx, p)
					if err != nil {
						t.Fatal(err)
					}
					pages++
					if want := max(limit, DefaultLimit); limit != 0 && len(page.Items) > limit || limit == 0 && len(page.Items) > want {
						t.Fatalf("page of %d items with limit %d", len(page.Items), limit)
					}
					for _, o := range page.Items {
						if seen[o.ID] {
							t.Fatalf("%s on two pages", o.ID)
						}
						if o.ID <= last {
							t.Fatalf("%s after %s: not ordered by id", o.ID, last)
						}
						seen[o.ID], last = true, o.ID
					}
					if page.NextCursor == "" {
						break
					}
					p.Cursor = page.NextCursor
				}
				if len(seen) != embeddedTotal {
					t.Fatalf("limit %d: walked %d organisations in %d pages, want %d", limit, len(seen), pages, embeddedTotal)
				}
			}
		})

		tests := []struct {
			name  string
			p     ListParams
			want  []string // the ids of the first page, in order; nil to check count only
			count int
			field string // for failures: the Invalid field
		}{
			{name: "ok/japanese substring", p: ListParams{Query: "札幌"}, count: 11},
			{name: "ok/english case-insensitive", p: ListParams{Query: "TOKYO"}, want: []string{"lg-130001"}},
			{name: "ok/english substring of ministries", p: ListParams{Query: "ministry of", Kind: KindNational}, count: 11},
			{name: "ok/hiragana", p: ListParams{Query: "ちよだく"}, want: []string{"lg-131016"}},
			{name: "ok/katakana finds hiragana", p: ListParams{Query: "チヨダク"}, want: []string{"lg-131016"}},
			{name: "ok/lg code substring", p: ListParams{Query: "13101"}, want: []string{"lg-131016"}},
			{name: "ok/like wildcards are literal", p: ListParams{Query: "%"}, count: 0},
			{name: "ok/underscore is literal", p: ListParams{Query: "_"}, count: 0},
			{name: "ok/parent", p: ListParams{ParentID: "lg-011002"}, count: 10},
			{name: "ok/kind", p: ListParams{Kind: KindSpecialWard}, count: 23},
			{name: "ok/parent and query", p: ListParams{ParentID: "lg-130001", Query: "区"}, count: 23},
			{name: "ok/limit", p: ListParams{Kind: KindPrefecture, Limit: 2}, want: []string{"lg-010006", "lg-020001"}},
			{name: "fail/cursor not base64", p: ListParams{Cursor: "!!"}, field: "cursor"},
			{name: "fail/cursor of another shape", p: ListParams{Cursor: "bGctMTMxMDE2"}, field: "cursor"},
			{name: "fail/kind", p: ListParams{Kind: "ministry"}, field: "kind"},
			{name: "fail/limit too large", p: ListParams{Limit: MaxLimit + 1}, field: "limit"},
			{name: "fail/negative limit", p: ListParams{Limit: -1}, field: "limit"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				page, err := r.List(ctx, tt.p)
				if tt.field != "" {
					if e, ok := fault.As(err); !ok || e.Kind != fault.Invalid || e.Field != tt.field {
						t.Fatalf("err = %v, want Invalid on %s", err, tt.field)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				got := ids(page.Items)
				if tt.want != nil && strings.Join(got, ",") != strings.Join(tt.want, ",") {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
				if tt.want == nil && len(got) != tt.count {
					t.Fatalf("got %d (%v), want %d", len(got), got, tt.count)
				}
			})
		}

		t.Run("ok/empty page serialises as a list", func(t *testing.T) {
			page, err := r.List(ctx, ListParams{Query: "no such body"})
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(page)
			if err != nil || string(b) != `{"items":[]}` {
				t.Fatalf("%s, %v", b, err)
			}
		})
	})
}

func TestCreate(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		r, clk := newRegistry(db)
		if _, err := r.Import(ctx, operator, src("pref.csv", prefHeader+prefRows)); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Create(ctx, operator, Organization{ID: "nat-digital", Kind: KindNational, NameJa: "デジタル庁", NameEn: "Digital Agency"}); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name   string
			in     Organization
			wantID string
			kind   fault.Kind
			field  string
		}{
			{name: "ok/national with a parent", in: Organization{ID: "nat-sub", Kind: KindNational, NameJa: " 下の 庁 ", ParentID: "nat-digital"}, wantID: "nat-sub"},
			{name: "ok/quasi-public with billing", in: Organization{ID: "qp-jlis", Kind: KindQuasiPublic, NameJa: "地方公共団体情報システム機構", NameEn: "J-LIS",
				Billing: Contact{Name: "経理", Email: "billing@j-lis.example", Phone: "+81-3-0000-0001"}}, wantID: "qp-jlis"},
			{name: "ok/city, id from its dropped-zero lg code", in: Organization{Kind: KindCity, LGCode: "11002", NameJa: "札幌市", ParentID: "lg-010006"}, wantID: "lg-011002"},
			{name: "ok/quasi-public with an lg code", in: Organization{ID: "qp-kumiai", Kind: KindQuasiPublic, LGCode: "018848", NameJa: "組合"}, wantID: "qp-kumiai"},
			{name: "fail/id exists", in: Organization{ID: "nat-digital", Kind: KindNational, NameJa: "重複"}, kind: fault.Conflict},
			{name: "fail/lg code exists", in: Organization{ID: "qp-other", Kind: KindQuasiPublic, LGCode: "130001", NameJa: "別"}, kind: fault.Conflict},
			{name: "fail/prefecture exists", in: Organization{Kind: KindPrefecture, LGCode: "130001", NameJa: "東京都"}, kind: fault.Conflict},
			{name: "fail/unknown kind", in: Organization{ID: "nat-x", Kind: "ministry", NameJa: "x"}, kind: fault.Invalid, field: "kind"},
			{name: "fail/empty name", in: Organization{ID: "nat-x", Kind: KindNational, NameJa: " \u3000 "}, kind: fault.Invalid, field: "name_ja"},
			{name: "fail/control character", in: Organization{ID: "nat-x", Kind: KindNational, NameJa: "x", NameEn: "a\x00b"}, kind: fault.Invalid, field: "name_en"},
			{name: "fail/right-to-left override", in: Organization{ID: "nat-x", Kind: KindNational, NameJa: "デジタル\u202e庁"}, kind: fault.Invalid, field: "name_ja"},
			{name: "fail/zero-width space", in: Organization{ID: "nat-x", Kind: KindNational, NameJa: "x", NameKana: "で\u200bじ"}, kind: fault.Invalid, field: "name_kana"},
			{name: "fail/isolate in a contact", in: Organization{ID: "nat-x", Kind: KindNational, NameJa: "x", Billing: Contact{Name: "\u2067a", Email: "a@example.jp"}}, kind: fault.Invalid, field: "billing.name"},
			{name: "fail/id prefix", in: Organization{ID: "qp-x", Kind: KindNational, NameJa: "x"}, kind: fault.Invalid, field: "id"},
			{name: "fail/id missing", in: Organization{Kind: KindNational, NameJa: "x"}, kind: fault.Invalid, field: "id"},
			{name: "fail/lg id mismatch", in: Organization{ID: "lg-131016", Kind: KindCity, LGCode: "011002", NameJa: "x", ParentID: "lg-010006"}, kind: fault.Invalid, field: "id"},
			{name: "fail/bad check digit", in: Organization{Kind: KindCity, LGCode: "011003", NameJa: "x", ParentID: "lg-010006"}, kind: fault.Invalid, field: "lg_code"},
			{name: "fail/municipality without lg code", in: Organization{ID: "lg-x", Kind: KindTown, NameJa: "x"}, kind: fault.Invalid, field: "lg_code"},
			{name: "fail/national with lg code", in: Organization{ID: "nat-x", Kind: KindNational, LGCode: "011002", NameJa: "x"}, kind: fault.Invalid, field: "lg_code"},
			{name: "fail/missing parent", in: Organization{ID: "nat-x", Kind: KindNational, NameJa: "x", ParentID: "nat-none"}, kind: fault.Invalid, field: "parent_id"},
			{name: "fail/city under a national body", in: Organization{Kind: KindCity, LGCode: "012025", NameJa: "x", ParentID: "nat-digital"}, kind: fault.Invalid, field: "parent_id"},
			{name: "fail/city in another prefecture", in: Organization{Kind: KindCity, LGCode: "012025", NameJa: "x", ParentID: "lg-130001"}, kind: fault.Invalid, field: "parent_id"},
			{name: "fail/city without parent", in: Organization{Kind: KindCity, LGCode: "012025", NameJa: "x"}, kind: fault.Invalid, field: "parent_id"},
			{name: "fail/special ward outside Tokyo", in: Organization{Kind: KindSpecialWard, LGCode: "011011", NameJa: "x", ParentID: "lg-010006"}, kind: fault.Invalid, field: "kind"},
			{name: "fail/billing email", in: Organization{ID: "nat-x", Kind: KindNational, NameJa: "x", Billing: Contact{Email: "Billing <b@x.example>"}}, kind: fault.Invalid, field: "billing.email"},
			{name: "fail/billing phone", in: Organization{ID: "nat-x", Kind: KindNational, NameJa: "x", Billing: Contact{Name: "経理", Email: "b@x.example", Phone: "call me"}}, kind: fault.Invalid, field: "billing.phone"},
			// What AWS's Account API refuses is refused here, before any
			// account exists.
			{name: "fail/billing phone longer than providers take", in: Organization{ID: "nat-x", Kind: KindNational, NameJa: "x", Billing: Contact{Name: "経理", Email: "b@x.example", Phone: "+81-3-0000-0000-0000-00000"}}, kind: fault.Invalid, field: "billing.phone"},
			{name: "fail/billing e-mail with a non-ASCII local part", in: Organization{ID: "nat-x", Kind: KindNational, NameJa: "x", Billing: Contact{Name: "経理", Email: "けいり@x.example"}}, kind: fault.Invalid, field: "billing.email"},
			{name: "fail/billing e-mail with a non-ASCII domain", in: Organization{ID: "nat-x", Kind: KindNational, NameJa: "x", Billing: Contact{Name: "経理", Email: "b@市役所.example"}}, kind: fault.Invalid, field: "billing.email"},
			{name: "fail/billing name longer than providers take", in: Organization{ID: "nat-x", Kind: KindNational, NameJa: "x", Billing: Contact{Name: strings.Repeat("経", 65), Email: "b@x.example"}}, kind: fault.Invalid, field: "billing.name"},
			{name: "fail/billing without a name", in: Organization{ID: "nat-x", Kind: KindNational, NameJa: "x", Billing: Contact{Email: "b@x.example"}}, kind: fault.Invalid, field: "billing.name"},
			{name: "fail/billing without an e-mail", in: Organization{ID: "nat-x", Kind: KindNational, NameJa: "x", Billing: Contact{Name: "経理", Phone: "03-0000-0000"}}, kind: fault.Invalid, field: "billing.email"},
			{name: "fail/billing with a phone only", in: Organization{ID: "nat-x", Kind: KindNational, NameJa: "x", Billing: Contact{Phone: "03-0000-0000"}}, kind: fault.Invalid, field: "billing.name"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := r.Create(ctx, operator, tt.in)
				if tt.kind != "" {
					e, ok := fault.As(err)
					if !ok || e.Kind != tt.kind || e.Field != tt.field {
						t.Fatalf("err = %v, want %s on %q", err, tt.kind, tt.field)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if got.ID != tt.wantID || !got.CreatedAt.Equal(clk.t) {
					t.Fatalf("created %+v, want id %s at %v", got, tt.wantID, clk.t)
				}
				stored, err := r.Get(ctx, tt.wantID)
				if err != nil {
					t.Fatal(err)
				}
				if a, b := mustJSON(t, stored), mustJSON(t, got); a != b {
					t.Fatalf("stored %s, Create returned %s", a, b)
				}
			})
		}
		if o, err := r.Get(ctx, "nat-sub"); err != nil || o.NameJa != "下の 庁" {
			t.Fatalf("names are trimmed and collapsed: %q, %v", o.NameJa, err)
		}
	})
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestBillingAndQuota(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		r, _ := newRegistry(db)
		if _, err := r.Create(ctx, operator, Organization{ID: "nat-digital", Kind: KindNational, NameJa: "デジタル庁"}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Get(ctx, "nat-none"); fault.KindOf(err) != fault.NotFound {
			t.Fatalf("Get of a missing id: %v, want NotFound", err)
		}
		if _, err := r.Ancestors(ctx, "nat-none"); fault.KindOf(err) != fault.NotFound {
			t.Fatalf("Ancestors of a missing id: %v, want NotFound", err)
		}

		billing := []struct {
			name string
			id   string
			c    Contact
			kind fault.Kind
		}{
			{"ok/set", "nat-digital", Contact{Name: "会計担当", Email: "billing@digital.example", Phone: "03-0000-0000"}, ""},
			{"ok/clear", "nat-digital", Contact{}, ""},
			{"fail/not found", "nat-none", Contact{Name: "a", Email: "a@b.example"}, fault.NotFound},
			{"fail/email", "nat-digital", Contact{Name: "a", Email: "not an address"}, fault.Invalid},
			{"fail/half a contact", "nat-digital", Contact{Phone: "03-0000-0000"}, fault.Invalid},
		}
		for _, tt := range billing {
			t.Run("billing/"+tt.name, func(t *testing.T) {
				err := r.SetBilling(ctx, operator, tt.id, tt.c)
				if fault.KindOf(err) != tt.kind && !(tt.kind == "" && err == nil) {
					t.Fatalf("err = %v, want %q", err, tt.kind)
				}
				if tt.kind != "" {
					return
				}
				o, err := r.Get(ctx, tt.id)
				if err != nil || o.Billing != tt.c {
					t.Fatalf("billing %+v (%v), want %+v", o.Billing, err, tt.c)
				}
			})
		}

		if n, err := r.Quota(ctx, "nat-digital", 5); err != nil || n != 5 {
			t.Fatalf("default quota = %d, %v; want 5", n, err)
		}
		quotas := []struct {
			name string
			id   string
			n    int
			kind fault.Kind
		}{
			{"ok/set", "nat-digital", 12, ""},
			{"ok/replace", "nat-digital", 0, ""},
			{"fail/negative", "nat-digital", -1, fault.Invalid},
			{"fail/not found", "nat-none", 3, fault.NotFound},
		}
		for _, tt := range quotas {
			t.Run("quota/"+tt.name, func(t *testing.T) {
				err := r.SetQuota(ctx, operator, tt.id, tt.n)
				if tt.kind != "" {
					if fault.KindOf(err) != tt.kind {
						t.Fatalf("err = %v, want %s", err, tt.kind)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if n, err := r.Quota(ctx, tt.id, 5); err != nil || n != tt.n {
					t.Fatalf("quota = %d, %v; want %d", n, err, tt.n)
				}
			})
		}
		if _, err := r.Quota(ctx, "nat-none", 5); fault.KindOf(err) != fault.NotFound {
			t.Fatalf("Quota of a missing id: %v, want NotFound", err)
		}
	})
}

// TestRegistryRefusesNoActor: every change needs its entry point to say
// who acts. Without an actor it is refused as an internal error (a defect,
// never bad input), even when its input is also wrong, and nothing is
// written — neither the change nor an audit entry in anyone's name.
func TestRegistryRefusesNoActor(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		r, _ := newRegistry(db)
		if _, err := r.Create(ctx, operator, Organization{ID: "nat-digital", Kind: KindNational, NameJa: "デジタル庁"}); err != nil {
			t.Fatal(err)
		}
		before := auditRows(t, db)
		for _, tt := range []struct {
			name   string
			act    audit.Acting
			change func(audit.Acting) error
		}{
			{"fail/create", audit.Acting{}, func(a audit.Acting) error {
				_, err := r.Create(ctx, a, Organization{ID: "nat-fdma", Kind: KindNational, NameJa: "消防庁"})
				return err
			}},
			{"fail/create, invalid too", audit.Acting{}, func(a audit.Acting) error {
				_, err := r.Create(ctx, a, Organization{ID: "nat-fdma"})
				return err
			}},
			{"fail/create under a grant alone", audit.Acting{GrantID: "bg-1"}, func(a audit.Acting) error {
				_, err := r.Create(ctx, a, Organization{ID: "nat-fdma", Kind: KindNational, NameJa: "消防庁"})
				return err
			}},
			{"fail/billing", audit.Acting{}, func(a audit.Acting) error {
				return r.SetBilling(ctx, a, "nat-digital", Contact{Name: "会計担当", Email: "billing@digital.example"})
			}},
			{"fail/quota", audit.Acting{}, func(a audit.Acting) error { return r.SetQuota(ctx, a, "nat-digital", 3) }},
			{"fail/import", audit.Acting{}, func(a audit.Acting) error {
				_, err := r.Import(ctx, a, src("pref.csv", prefHeader+prefRows))
				return err
			}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				err := tt.change(tt.act)
				if !errors.Is(err, audit.ErrNoActor) || fault.KindOf(err) != fault.Internal {
					t.Fatalf("err = %v (kind %s); want audit.ErrNoActor, internal", err, fault.KindOf(err))
				}
			})
		}
		if n, err := r.Count(ctx); err != nil || n != 1 {
			t.Fatalf("%d organisations (%v) after refused changes; want only nat-digital", n, err)
		}
		o, err := r.Get(ctx, "nat-digital")
		if err != nil || o.Billing != (Contact{}) {
			t.Fatalf("nat-digital %+v (%v); want its billing contact untouched", o, err)
		}
		if n, err := r.Quota(ctx, "nat-digital", 5); err != nil || n != 5 {
			t.Fatalf("quota %d (%v); want the default", n, err)
		}
		if got := auditRows(t, db); !slices.Equal(got, before) {
			t.Fatalf("audit entries %v after refused changes; want %v", got, before)
		}

		// With an actor, the entry names it and its grant.
		if err := r.SetQuota(ctx, audit.Acting{Actor: "p-1", GrantID: "bg-1"}, "nat-digital", 3); err != nil {
			t.Fatal(err)
		}
		if got := auditRows(t, db); !slices.Equal(got, append(before, "p-1/bg-1/org.quota")) {
			t.Fatalf("audit entries %v; want the quota change by p-1 under bg-1 added", got)
		}
	})
}

// auditRows lists the queued audit entries as actor/grant/action.
func auditRows(t *testing.T, db *store.DB) []string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), `SELECT actor, grant_id, action FROM audit_queue ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var actor, grant, action string
		if err := rows.Scan(&actor, &grant, &action); err != nil {
			t.Fatal(err)
		}
		out = append(out, actor+"/"+grant+"/"+action)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAncestorsAndSubtree(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		r, _ := newRegistry(db)
		importEmbedded(t, r)
		wards, err := r.Children(ctx, "lg-011002") // 札幌市's ten wards
		if err != nil || len(wards) != 10 {
			t.Fatalf("children: %d %v", len(wards), err)
		}
		got, err := r.AncestorIDs(ctx, wards[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(got, ",") != "lg-011002,lg-010006" {
			t.Fatalf("ancestors of %s = %v, want the city then 北海道", wards[0].ID, got)
		}
		if got, err := r.AncestorIDs(ctx, "lg-010006"); err != nil || len(got) != 0 {
			t.Fatalf("ancestors of a prefecture = %v %v, want none", got, err)
		}
		if _, err := r.AncestorIDs(ctx, "nowhere"); fault.KindOf(err) != fault.NotFound {
			t.Fatalf("unknown org: %v", err)
		}
		sub, err := r.SubtreeIDs(ctx, []string{"lg-011002", wards[1].ID})
		if err != nil {
			t.Fatal(err)
		}
		if len(sub) != 11 || sub[0] != "lg-011002" {
			t.Fatalf("subtree = %v, want the city and its ten wards once each", sub)
		}
	})
}

func TestValidIDAndCursor(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, id string
		want     bool
	}{
		{"ok/local government", "lg-131016", true},
		{"ok/national", "nat-digital", true},
		{"ok/quasi-public with hyphens", "qp-j-lis-2", true},
		{"fail/empty", "", false},
		{"fail/lg code too short", "lg-13101", false},
		{"fail/prefix only", "nat-", false},
		{"fail/upper case", "nat-Digital", false},
		{"fail/path", "../etc", false},
		{"fail/too long", "nat-" + strings.Repeat("a", 61), false},
		{"fail/format character", "nat-digital\u202e", false},
	} {
		if got := ValidID(tt.id); got != tt.want {
			t.Errorf("%s: ValidID(%q) = %v", tt.name, tt.id, got)
		}
	}
	if !ValidCursor(encodeCursor("lg-131016")) || ValidCursor("garbage") || ValidCursor(encodeCursor("../x")) {
		t.Error("ValidCursor takes only cursors List hands out")
	}
}
