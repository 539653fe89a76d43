package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

// TestImportOrganizationsAllOrNothing: a file with one bad row (an empty
// billing contact) is refused whole — 422 with the rows in errors, nothing
// stored; ?dry_run=true shows what would change and stores nothing; a good
// file is imported.
func TestImportOrganizationsAllOrNothing(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, d)
			csv := map[string]string{"Content-Type": "text/csv"}
			const header = "id,kind,name_ja,billing_name,billing_email\n"
			good := header + "nat-a,national,甲庁,会計課,billing@a.example.go.jp\nnat-b,national,乙庁,経理,b@b.example.go.jp\n"
			bad := header + "nat-a,national,甲庁,会計課,billing@a.example.go.jp\nnat-b,national,乙庁,,\n"
			exists := func(id string) bool {
				return h.call(t, "GET", "/api/v1/organizations/"+id, "", nil).status == http.StatusOK
			}
			tests := []struct {
				name, query, body string
				status            int
				want              []string
				stored            bool // nat-a exists afterwards
			}{
				{"fail/an empty billing contact", "?name=orgs.csv", bad, http.StatusUnprocessableEntity,
					[]string{`"errors":[{"source":"orgs.csv","line":3,"message":"the billing contact is empty`, "nothing was"}, false},
				{"ok/dry run of the bad file", "?dry_run=true&name=orgs.csv", bad, http.StatusOK,
					[]string{`"dry_run": true`, `"applied": false`, `"created": 1`, `"line": 3`}, false},
				{"ok/dry run of the good file", "?dry_run=true", good, http.StatusOK, []string{`"created": 2`, `"applied": false`}, false},
				{"fail/an unknown parameter", "?dryrun=true", good, http.StatusBadRequest, []string{`"field":"dryrun"`}, false},
				{"ok/the import", "", good, http.StatusOK, []string{`"created": 2`, `"applied": true`}, true},
				{"ok/a change, dry run", "?dry_run=true", strings.Replace(good, "b@b.example.go.jp", "kaikei@b.example.go.jp", 1), http.StatusOK,
					[]string{`"updated": 1`, `"id": "nat-b"`, `"field": "billing_email"`, `"new": "kaikei@b.example.go.jp"`}, true},
			}
			for _, tt := range tests {
				r := h.call(t, "POST", "/api/v1/organizations/import"+tt.query, tt.body, csv)
				if r.status != tt.status {
					t.Errorf("%s: %d %s, want %d", tt.name, r.status, r.raw, tt.status)
				}
				for _, w := range tt.want {
					if !strings.Contains(r.raw, w) {
						t.Errorf("%s: answer lacks %s: %s", tt.name, w, r.raw)
					}
				}
				if got := exists("nat-a"); got != tt.stored {
					t.Errorf("%s: nat-a stored = %v, want %v", tt.name, got, tt.stored)
				}
			}
			o, err := h.orgs.Get(context.Background(), "nat-b")
			if err != nil || o.Billing.Email != "b@b.example.go.jp" {
				t.Fatalf("nat-b after a dry run of a change: %+v, %v", o.Billing, err)
			}
		})
	}
}
