package web

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/backup"
)

// The backups page shows central staff the latest drill's RTO and RPO and
// a failed drill as a critical alert, by the name of who ran it; a tenant
// is refused, and sees no link to it.
func TestBackupsPage(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	op := h.named(t, authz.CentralOperator, "", "中央 太郎", true)
	h.console.backupRuns = &backup.Service{DB: h.api.DB}
	at := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	for _, r := range []struct {
		id, kind, by, state, severity string
		took, rpo                     int64
		at                            time.Time
	}{
		{"backup-1", "backup", op.person.ID, "ok", "", 900, 0, at},
		{"drill-1", "drill", "system", "ok", "", 4321, 3600000, at.Add(time.Hour)},
		{"drill-2", "drill", "system", "failed", "critical", 50, 7200000, at.Add(2 * time.Hour)},
	} {
		if _, err := h.api.DB.ExecContext(ctx, `INSERT INTO backup_runs (id, kind, requested_by, state, backup_id, severity, took_ms, rpo_ms, detail, started_at, finished_at)
			VALUES ($1, $2, $3, $4, '20261201T030000.000000Z', $5, $6, $7, $8, $9, $9)`, r.id, r.kind, r.by, r.state, r.severity, r.took, r.rpo,
			map[bool]string{true: "restore refused (key): the data key does not open", false: ""}[r.state == "failed"], r.at); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		b    *browser
		want int
	}{
		{"ok/operator", op, http.StatusOK},
		{"ok/auditor", h.as(t, authz.CentralAuditor, ""), http.StatusOK},
		{"fail/tenant-admin", h.as(t, authz.TenantAdmin, "lg-011002"), http.StatusForbidden},
		{"fail/tenant-member", h.as(t, authz.TenantMember, "lg-011002"), http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := tc.b.get(t, "/backups", "Accept-Language", "ja")
			if res.status != tc.want {
				t.Fatalf("GET /backups = %d, want %d", res.status, tc.want)
			}
			home := tc.b.get(t, "/account", "Accept-Language", "ja")
			if link := strings.Contains(home.body, `href="/backups"`); link != (tc.want == http.StatusOK) {
				t.Fatalf("navigation link to /backups shown = %v", link)
			}
			if tc.want != http.StatusOK {
				if strings.Contains(res.body, "drill-2") {
					t.Fatal("a refused page shows the runs")
				}
				return
			}
			for _, want := range []string{`data-drill-state="failed"`, "直近の復元訓練が失敗しました", `data-rto-ms="50"`, `data-rpo-ms="7200000"`,
				"0.050秒", "復元訓練", "中央 太郎", `data-run="backup-1"`} {
				if !strings.Contains(res.body, want) {
					t.Errorf("the page lacks %q", want)
				}
			}
		})
	}
	en := op.get(t, "/backups", "Accept-Language", "en")
	if !strings.Contains(en.body, "The latest restore drill failed") || !strings.Contains(en.body, "Restore time (RTO)") {
		t.Fatal("the English page lacks the alert")
	}
}
