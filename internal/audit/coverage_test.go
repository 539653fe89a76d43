package audit_test

import (
	"context"
	"strings"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

// In the test log, entries alternate between lg-131016 (even i) and
// lg-011002 (odd i), and every tenth is platform-wide: lg-011002's entries
// are 1, 3, 5, 7, 11, 13 … and entry i's organisation index is its place in
// that list.

// TestBundleProvesCompleteness takes tenant bundles of several shapes —
// the first page (closed by the next entry), a middle page (closed by the
// entries on both sides), the last page (closed by a signed count), an
// organisation without entries, a subtree of two — and checks each proves
// complete over the range it derives.
func TestBundleProvesCompleteness(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		key := newKey(t)
		l := filledLog(t, db, key, 100)
		for _, tt := range []struct {
			name     string
			f        audit.Filter
			entries  int
			from, to uint64
		}{
			{"ok/first page", audit.Filter{OrgIDs: []string{"lg-011002"}, Limit: 5}, 5, 0, 13},
			{"ok/middle page", audit.Filter{OrgIDs: []string{"lg-011002"}, FromSeq: 40, Limit: 3}, 3, 38, 47},
			{"ok/last page", audit.Filter{OrgIDs: []string{"lg-011002"}, FromSeq: 90, Limit: 100}, 4, 88, 100},
			{"ok/no entries", audit.Filter{OrgIDs: []string{"lg-999999"}, Limit: 10}, 0, 0, 100},
			{"ok/subtree of two", audit.Filter{OrgIDs: []string{"lg-011002", "lg-131016"}, FromSeq: 50, Limit: 6}, 6, 49, 56},
		} {
			t.Run(tt.name, func(t *testing.T) {
				b, err := l.Bundle(context.Background(), tt.f)
				if err != nil {
					t.Fatal(err)
				}
				rep, err := audit.CheckBundle(b, key.VerifierKey)
				if err != nil {
					t.Fatalf("CheckBundle: %v", err)
				}
				if !rep.Complete || rep.Entries != tt.entries || rep.FromSeq != tt.from || rep.ToSeq != tt.to {
					t.Fatalf("report %+v; want complete with %d entries over %d…%d", rep, tt.entries, tt.from, tt.to)
				}
			})
		}
	})
}

// TestBundleIncompleteRefused deletes, duplicates, reorders or swaps
// entries and bounds of a tenant's bundle: each is refused, naming the
// entry.
func TestBundleIncompleteRefused(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	key := newKey(t)
	l := filledLog(t, db, key, 100)
	page := func(t *testing.T, f audit.Filter) audit.Bundle {
		t.Helper()
		b, err := l.Bundle(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	middle := audit.Filter{OrgIDs: []string{"lg-011002"}, FromSeq: 40, Limit: 4}           // entries 41 43 45 47: numbers 16…19, between 37 and 51
	last := audit.Filter{OrgIDs: []string{"lg-011002"}, FromSeq: 90, Limit: 100}           // entries 91 93 95 97 (99 is platform-wide), numbers 36…39
	other := page(t, audit.Filter{OrgIDs: []string{"lg-131016"}, FromSeq: 98, Limit: 100}) // entry 98, closed by a signed head
	for _, tt := range []struct {
		name string
		f    audit.Filter
		edit func(b *audit.Bundle)
		want string
	}{
		{"fail/middle entry deleted", middle, func(b *audit.Bundle) {
			b.Entries = append(b.Entries[:1], b.Entries[2:]...)
		}, "entry number 17 is missing between entry 41 and entry 45"},
		{"fail/first entry deleted", middle, func(b *audit.Bundle) { b.Entries = b.Entries[1:] },
			"entry number 16 is missing between entry 37 and entry 43"},
		{"fail/last entry deleted", middle, func(b *audit.Bundle) { b.Entries = b.Entries[:3] },
			"entry number 19 is missing between entry 45 and the entry after the range, 51"},
		{"fail/newest entries deleted", last, func(b *audit.Bundle) { b.Entries = b.Entries[:2] },
			"entry numbers 38…39 are missing after entry 93"},
		{"fail/entry duplicated", middle, func(b *audit.Bundle) {
			b.Entries = append(b.Entries[:2], append([]audit.BundleEntry{b.Entries[1]}, b.Entries[2:]...)...)
		}, "bundle entry 43 appears twice"},
		{"fail/entries reordered", middle, func(b *audit.Bundle) {
			b.Entries[1], b.Entries[2] = b.Entries[2], b.Entries[1]
		}, "bundle entry 43 comes after entry 45"},
		{"fail/bound before removed", middle, func(b *audit.Bundle) { b.Coverage.Orgs[0].Before = nil },
			"entry numbers 0…15 are missing between the start of the log and entry 41"},
		{"fail/bound after removed", middle, func(b *audit.Bundle) { b.Coverage.Orgs[0].After = nil },
			"the range is not closed"},
		{"fail/signed head of another organisation", last, func(b *audit.Bundle) {
			b.Coverage.Orgs[0].Head = other.Coverage.Orgs[0].Head
		}, "the head note is for \"lg-131016\""},
		{"fail/head edited", last, func(b *audit.Bundle) {
			b.Coverage.Orgs[0].Head = strings.Replace(b.Coverage.Orgs[0].Head, "\n40\n", "\n42\n", 1)
		}, "not signed by the log's key"},
		{"fail/an organisation's entries passed off as another's", middle, func(b *audit.Bundle) {
			b.Coverage.Orgs[0].OrgID = "lg-131016"
		}, "belongs to \"lg-011002\", which the coverage does not list"},
		{"fail/entry of an unlisted organisation added", middle, func(b *audit.Bundle) {
			b.Entries = append(b.Entries, other.Entries[0])
		}, "entry 98 belongs to \"lg-131016\", which the coverage does not list"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := page(t, tt.f)
			if _, err := audit.CheckBundle(b, key.VerifierKey); err != nil {
				t.Fatalf("the untouched bundle does not verify: %v", err)
			}
			tt.edit(&b)
			_, err := audit.CheckBundle(b, key.VerifierKey)
			if err == nil || !strings.Contains(err.Error(), tt.want) || fault.KindOf(err) != fault.Invalid {
				t.Fatalf("error %v; want an invalid-input error containing %q", err, tt.want)
			}
		})
	}
}
