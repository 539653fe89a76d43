package web

import (
	"regexp"
	"strings"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/env"
)

// tileValue is the value the map writes on a prefecture's tile.
func tileValue(t testing.TB, page, pref string) string {
	t.Helper()
	m := regexp.MustCompile(`data-pref="` + pref + `" data-value="([^"]*)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no tile for prefecture %s", pref)
	}
	return m[1]
}

func TestDashboardMapAndTrends(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.postureEnv(t, sapporo, "税務システム")                // in Hokkaido (01), one open high finding
	h.request(t, "lg-011011", "住民記録システム", env.Level2) // Chuo ward, Hokkaido, not evaluated
	b := h.browser(t)

	tests := []struct {
		name, path string
		tiles      map[string]string
		want       []string
	}{
		{"ok/envs", "/?lang=ja", map[string]string{"01": "2", "13": "0"},
			[]string{`id="japan-map"`, `href="/orgs/lg-010006"`, "都道府県別の状況", `id="chart-states"`, `id="chart-vended"`, `id="chart-findings"`, `id="pref-table"`}},
		{"ok/score", "/?lang=en&measure=score", map[string]string{"01": "0.0%", "13": "—"},
			[]string{"Posture score", `japan-map__tile--4`, `data-org="lg-011002"`}},
		{"ok/critical", "/?lang=en&measure=critical", map[string]string{"01": "0"}, nil},
		{"ok/unknown-measure-is-envs", "/?measure=nonsense", map[string]string{"01": "2"}, nil},
		{"ok/one-prefecture", "/?lang=ja&pref=01", map[string]string{"01": "2"}, []string{"北海道 の市区町村", `data-org="lg-011011"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := b.get(t, tc.path)
			if res.status != 200 {
				t.Fatalf("status %d\n%s", res.status, res.body)
			}
			for pref, want := range tc.tiles {
				if got := tileValue(t, res.body, pref); got != want {
					t.Errorf("tile %s = %q, want %q", pref, got, want)
				}
			}
			mustContain(t, res.body, tc.want...)
		})
	}

	// A tenant member sees their own organisation's numbers only, and no
	// posture measures if the role may not read posture.
	member := h.as(t, authz.TenantMember, "lg-011011")
	res := member.get(t, "/?lang=ja")
	if res.status != 200 {
		t.Fatalf("member: status %d", res.status)
	}
	if got := tileValue(t, res.body, "01"); got != "1" {
		t.Errorf("member's Hokkaido tile = %q, want 1 (their ward's environment only)", got)
	}
	if strings.Contains(res.body, "税務システム") {
		t.Error("member sees another organisation's environment")
	}
}
