package api_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// -update rewrites the golden responses in testdata/golden:
//
//	go test ./internal/api -run TestGoldenResponses -update
var update = flag.Bool("update", false, "rewrite the golden responses in testdata/golden")

// TestGoldenResponses keeps the main endpoints' answers, whole, in
// testdata/golden: a change to what a client receives shows in review as a
// change to a file. Values that differ on every run (ids, times, the schema
// version, tokens) are replaced by stable placeholders.
func TestGoldenResponses(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite)
	_, tenantToken := h.person(t, authz.TenantAdmin, "nat-digital")
	asTenant := map[string]string{"Authorization": "Bearer " + tenantToken}
	key := map[string]string{"Idempotency-Key": "golden-1"}

	steps := []struct {
		name, method, path, body string
		header                   map[string]string
	}{
		{"system", "GET", "/api/v1/system", "", nil},
		{"organizations-list", "GET", "/api/v1/organizations?limit=10", "", nil},
		{"organization-get", "GET", "/api/v1/organizations/nat-digital", "", nil},
		{"environment-request", "POST", "/api/v1/environments", goodRequest, key},
		{"environment-request-replayed", "POST", "/api/v1/environments", goodRequest, key},
		{"environment-get", "GET", "/api/v1/environments/{env}", "", nil},
		{"environments-list", "GET", "/api/v1/environments", "", nil},
		{"me-tenant", "GET", "/api/v1/me", "", asTenant},
		{"people-list", "GET", "/api/v1/people", "", nil},
		{"control-get", "GET", "/api/v1/controls/aws-cloudtrail-kms", "", nil},
		{"problem-not-found", "GET", "/api/v1/environments/env-0000000000000000", "", nil},
		{"problem-invalid-field", "POST", "/api/v1/environments", strings.Replace(goodRequest, "production", "prod", 1), nil},
		{"problem-bad-request", "POST", "/api/v1/environments", `{"org_id":5}`, nil},
		{"problem-unauthenticated", "GET", "/api/v1/environments", "", map[string]string{"Authorization": ""}},
		{"problem-other-organisation", "GET", "/api/v1/organizations/qp-small", "", asTenant},
	}
	n := newNormaliser()
	var envID string
	for i, st := range steps {
		path := strings.ReplaceAll(st.path, "{env}", envID)
		r := h.call(t, st.method, path, st.body, st.header)
		if st.name == "environment-request" {
			envID, _ = r.body["id"].(string)
		}
		var got bytes.Buffer
		fmt.Fprintf(&got, "%s %s\n%d %s\n\n", st.method, n.normalise(path), r.status, r.header.Get("Content-Type"))
		got.WriteString(n.normalise(r.raw))
		file := filepath.Join("testdata", "golden", fmt.Sprintf("%02d-%s.txt", i+1, st.name))
		if *update {
			if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(file, got.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("%v (run go test ./internal/api -run TestGoldenResponses -update to write it)", err)
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Errorf("%s differs from %s (if the change is meant, rewrite it: go test ./internal/api -run TestGoldenResponses -update):\n--- got\n%s\n--- want\n%s", st.name, file, got.Bytes(), want)
		}
	}
}

var (
	// generatedID is every id hatoba generates: a prefix and 16 or more
	// characters of lower-case base32.
	generatedID = regexp.MustCompile(`\b([a-z]+)-([0-9a-z]{16,})\b`)
	timestamp   = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`)
	schemaVer   = regexp.MustCompile(`"schema_version": \d+`)
)

// normaliser replaces volatile values with placeholders; the same id gets
// the same placeholder in every response of a run, so references between
// responses still show.
type normaliser struct{ ids map[string]string }

func newNormaliser() *normaliser { return &normaliser{ids: map[string]string{}} }

func (n *normaliser) normalise(s string) string {
	s = timestamp.ReplaceAllString(s, "<time>")
	s = schemaVer.ReplaceAllString(s, `"schema_version": "<n>"`)
	return generatedID.ReplaceAllStringFunc(s, func(id string) string {
		if id == "env-0000000000000000" {
			return id
		}
		if p, ok := n.ids[id]; ok {
			return p
		}
		prefix := generatedID.FindStringSubmatch(id)[1]
		count := 1
		for _, p := range n.ids {
			if strings.HasPrefix(p, "<"+prefix+"-") {
				count++
			}
		}
		n.ids[id] = fmt.Sprintf("<%s-%d>", prefix, count)
		return n.ids[id]
	})
}
