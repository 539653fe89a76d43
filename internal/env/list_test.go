package env_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/org"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

// seedListing inserts n environments of each of orgs, states cycling,
// oldest first, and returns their ids newest first per organisation.
func seedListing(t *testing.T, db *store.DB, s *env.Store, orgs []string, n int) map[string][]string {
	t.Helper()
	ctx := context.Background()
	reg := org.New(db, time.Now)
	for _, id := range orgs {
		if _, err := reg.Create(ctx, audit.Acting{Actor: "system"}, org.Organization{ID: id, Kind: org.KindNational, NameJa: "組織 " + id}); err != nil {
			t.Fatal(err)
		}
	}
	states := []env.State{env.Ready, env.Requested, env.Failed, env.Ready}
	ids := map[string][]string{}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	err := db.InTx(ctx, func(tx *store.Tx) error {
		for i := 0; i < n; i++ {
			for _, o := range orgs {
				at := base.Add(time.Duration(i) * time.Minute)
				en := env.Environment{ID: env.NewID(at), OrgID: o, SystemName: fmt.Sprintf("sys-%04d", i), Purpose: env.Development,
					Classification: env.Level2, Provider: "sim", State: states[i%len(states)], AccountEmail: "x@example.invalid",
					CreatedAt: at, UpdatedAt: at}
				if err := s.Insert(ctx, tx, en, nil); err != nil {
					return err
				}
				ids[o] = append([]string{en.ID}, ids[o]...)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestListPagesAndCounts pages through an organisation's environments by
// cursor — every one once, newest first — and counts a scope's per state
// in one query.
func TestListPagesAndCounts(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := env.NewStore(db, time.Now)
		ids := seedListing(t, db, s, []string{"nat-a", "nat-b", "nat-c"}, 60)
		var got []string
		cursor := ""
		for {
			page, err := s.List(ctx, env.ListParams{OrgID: "nat-b", Limit: 7, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range page.Items {
				got = append(got, e.ID)
			}
			if cursor = page.NextCursor; cursor == "" {
				break
			}
		}
		if strings.Join(got, ",") != strings.Join(ids["nat-b"], ",") {
			t.Fatalf("paging gave %d environments out of order or twice; want nat-b's 60 newest first", len(got))
		}
		counts, err := s.CountByStateWithin(ctx, []string{"nat-a", "nat-c"})
		if err != nil {
			t.Fatal(err)
		}
		if counts[env.Ready] != 60 || counts[env.Requested] != 30 || counts[env.Failed] != 30 {
			t.Fatalf("counts %v; want 60 ready, 30 requested, 30 failed over two organisations", counts)
		}
		if counts, err := s.CountByStateWithin(ctx, []string{}); err != nil || len(counts) != 0 {
			t.Fatalf("an empty scope counted %v, %v", counts, err)
		}
	})
}

// TestListReadsInIndexOrder: a page of one organisation's or one state's
// environments is read from an index in the listing's order, never by
// sorting all of them (SQLite's plan says USE TEMP B-TREE when it sorts).
func TestListReadsInIndexOrder(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	for _, q := range []string{
		`SELECT id FROM environments WHERE org_id = 'x' ORDER BY id DESC LIMIT 51`,
		`SELECT id FROM environments WHERE org_id = 'x' AND id < 'env-z' ORDER BY id DESC LIMIT 51`,
		`SELECT id FROM environments WHERE state = 'ready' ORDER BY id DESC LIMIT 51`,
		`SELECT id FROM environments ORDER BY id DESC LIMIT 51`,
	} {
		rows, err := db.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+q)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		if p := strings.Join(plan, "; "); strings.Contains(p, "TEMP B-TREE") {
			t.Errorf("%s sorts: %s", q, p)
		}
	}
}
