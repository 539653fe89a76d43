package web

import (
	"context"
	"net/http"
	"strings"

	"github.com/hatoba-cloud/hatoba/internal/backup"
	"github.com/hatoba-cloud/hatoba/internal/fault"
)

// The backups page (/backups, docs/backup.md): hatoba's own backups and
// restore drills for central staff — the latest drill's restore time
// (RTO) and the age of the backup it restored (RPO), a failed drill as a
// critical alert, and the recent runs. Backups are the platform's, not a
// tenant's: tenants are refused.

// BackupRuns reads the backup and drill runs (*backup.Service).
type BackupRuns interface {
	Runs(ctx context.Context, kind string, limit int) ([]backup.Run, error)
}

// backupsPage is the data of /backups.
type backupsPage struct {
	// Off: this server keeps no backup schedule.
	Off bool
	// Drill is the latest drill, if any.
	Drill *backupRow
	Rows  []backupRow
}

// backupRow is a run with who started it.
type backupRow struct {
	backup.Run
	System bool
	By     actorRef
}

func (c *Console) backups(w http.ResponseWriter, r *http.Request) {
	if !me(r).principal.Role.Central() {
		c.fail(w, r, fault.Forbiddenf("backups are the platform's: central operators and auditors see them"))
		return
	}
	var p backupsPage
	if c.backupRuns == nil {
		p.Off = true
		c.render(w, r, http.StatusOK, "backups", "backups", p)
		return
	}
	runs, err := c.backupRuns.Runs(r.Context(), "", 30)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	names := c.nameBook(r)
	for _, run := range runs {
		row := backupRow{Run: run, System: run.RequestedBy == "system" || strings.HasPrefix(run.RequestedBy, "local:")}
		if !row.System {
			if row.By, err = names.actor(run.RequestedBy); err != nil {
				c.fail(w, r, err)
				return
			}
		}
		p.Rows = append(p.Rows, row)
		if p.Drill == nil && run.Kind == backup.KindDrill && run.State != "running" {
			d := row
			p.Drill = &d
		}
	}
	c.render(w, r, http.StatusOK, "backups", "backups", p)
}
