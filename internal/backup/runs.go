package backup

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// Run is one backup or drill as recorded in backup_runs.
type Run struct {
	ID          string
	Kind        string // backup, drill
	RequestedBy string
	State       string // running, ok, failed
	BackupID    string
	// Severity is "critical" for a failed drill: a backup that does not
	// restore is a platform finding central must act on.
	Severity   string
	Bytes      int64
	Rows       int64
	Took       time.Duration // a drill's: the restore time, RTO
	RPO        time.Duration // a drill's: the age of the backup it restored
	Detail     string
	StartedAt  time.Time
	FinishedAt *time.Time
}

// Kinds of run.
const (
	KindBackup = "backup"
	KindDrill  = "drill"
)

// ErrTaken: another replica already runs this scheduled slot.
var ErrTaken = errors.New("this run is already taken by another replica")

func (s *Service) begin(ctx context.Context, id, kind, actor string) (Run, error) {
	r := Run{ID: id, Kind: kind, RequestedBy: actor, State: "running", StartedAt: s.now()}
	_, err := s.DB.ExecContext(ctx, `INSERT INTO backup_runs (id, kind, requested_by, state, started_at) VALUES ($1, $2, $3, 'running', $4)`,
		r.ID, r.Kind, r.RequestedBy, r.StartedAt)
	if store.IsUniqueViolation(err) {
		return r, ErrTaken
	}
	if err != nil {
		return r, fmt.Errorf("%s %s: record: %w", kind, id, err)
	}
	return r, nil
}

// finish records the run's outcome and its audit entry in one
// transaction: a run whose record cannot be written is reported failed.
func (s *Service) finish(ctx context.Context, r *Run, action string, details map[string]any) error {
	now := s.now()
	r.FinishedAt = &now
	ctx = context.WithoutCancel(ctx)
	return s.DB.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE backup_runs SET state = $2, backup_id = $3, severity = $4, bytes = $5, rows_count = $6,
			took_ms = $7, rpo_ms = $8, detail = $9, finished_at = $10 WHERE id = $1`,
			r.ID, r.State, r.BackupID, r.Severity, r.Bytes, r.Rows, r.Took.Milliseconds(), r.RPO.Milliseconds(), r.Detail, now); err != nil {
			return fmt.Errorf("%s %s: record: %w", r.Kind, r.ID, err)
		}
		return audit.Append(ctx, tx, audit.Entry{At: now, Actor: r.RequestedBy, Action: action, Target: r.BackupID, Details: details})
	})
}

// RunBackup makes a backup and records it (backup_runs, audit log
// backup.create). runID names the run: a schedule's slot, or "" for one
// of its own.
func (s *Service) RunBackup(ctx context.Context, actor, runID string) (Run, error) {
	if runID == "" {
		runID = "backup-" + NewID(s.now())
	}
	r, err := s.begin(ctx, runID, KindBackup, actor)
	if err != nil {
		return r, err
	}
	res, berr := s.Backup(ctx, "")
	r.BackupID, r.Bytes, r.Took, r.State = res.Manifest.ID, res.Bytes, res.Took, "ok"
	for _, t := range res.Manifest.Tables {
		r.Rows += t.Rows
	}
	details := map[string]any{"target": s.Target.String(), "bytes": r.Bytes, "rows": r.Rows, "took_ms": r.Took.Milliseconds(),
		"key_id": res.Manifest.Key.ID, "key_version": res.Manifest.Key.Version, "audit_size": res.Manifest.Audit.Size}
	if berr != nil {
		r.State, r.Detail = "failed", berr.Error()
		details = map[string]any{"target": s.Target.String(), "error": berr.Error()}
	}
	if err := s.finish(ctx, &r, "backup.create", details); err != nil {
		return r, errors.Join(berr, err)
	}
	return r, berr
}

// Scratch opens an empty database for a drill and drops it afterwards.
type Scratch func(ctx context.Context) (db *store.DB, drop func(), err error)

// SQLiteScratch makes drills restore into a new SQLite file under dir
// (the system's temporary directory when empty), removed afterwards. A
// backup of PostgreSQL restores into it as well: the format is the same.
func SQLiteScratch(dir string) Scratch {
	return func(ctx context.Context) (*store.DB, func(), error) {
		d, err := os.MkdirTemp(dir, "hatoba-drill-*")
		if err != nil {
			return nil, nil, fmt.Errorf("drill: scratch directory: %w", err)
		}
		db, err := store.Open(ctx, "sqlite:"+filepath.Join(d, "drill.db"), store.Options{})
		if err != nil {
			_ = os.RemoveAll(d)
			return nil, nil, fmt.Errorf("drill: scratch database: %w", err)
		}
		return db, func() { _ = db.Close(); _ = os.RemoveAll(d) }, nil
	}
}

// Drill restores the newest backup into a scratch database with the
// running key service, verifies the restored audit log against the
// backup's checkpoint, compares every table's count and checksum, and
// records the restore time (RTO) and the backup's age (RPO). A failed
// drill is recorded with severity critical.
func (s *Service) Drill(ctx context.Context, actor, runID string, scratch Scratch) (Run, error) {
	if runID == "" {
		runID = "drill-" + NewID(s.now())
	}
	r, err := s.begin(ctx, runID, KindDrill, actor)
	if err != nil {
		return r, err
	}
	start := s.now()
	rep, derr := s.drill(ctx, scratch)
	r.BackupID, r.Rows = rep.Manifest.ID, rep.Rows
	r.Took = s.now().Sub(start)
	if !rep.Manifest.CreatedAt.IsZero() {
		r.RPO = start.Sub(rep.Manifest.CreatedAt)
	}
	r.State = "ok"
	var problems []string
	switch {
	case derr != nil:
		problems = append(problems, derr.Error())
	default:
		if !rep.Audit.OK() {
			problems = append(problems, "the restored audit log does not verify: "+rep.Audit.Problem.String())
		}
		problems = append(problems, rep.Mismatches...)
	}
	if len(problems) > 0 {
		r.State, r.Severity, r.Detail = "failed", "critical", strings.Join(problems, "; ")
	}
	details := map[string]any{"ok": r.State == "ok", "backup_id": r.BackupID, "rto_ms": r.Took.Milliseconds(),
		"rpo_ms": r.RPO.Milliseconds(), "rows": r.Rows, "audit_size": rep.Audit.Size}
	if r.Severity != "" {
		details["severity"], details["problem"] = r.Severity, clip(r.Detail)
	}
	if err := s.finish(ctx, &r, "backup.drill", details); err != nil {
		return r, err
	}
	if r.State != "ok" {
		s.log().Error("restore drill failed: critical", "backup", r.BackupID, "problem", r.Detail)
		return r, fmt.Errorf("restore drill of %s failed: %s", r.BackupID, r.Detail)
	}
	s.log().Info("restore drill passed", "backup", r.BackupID, "rto", r.Took, "rpo", r.RPO)
	return r, nil
}

func (s *Service) drill(ctx context.Context, scratch Scratch) (RestoreReport, error) {
	db, drop, err := scratch(ctx)
	if err != nil {
		return RestoreReport{}, err
	}
	defer drop()
	return s.Restore(ctx, RestoreOptions{Into: db, OpenKeys: func(context.Context, *store.DB) (KeyService, error) { return s.Keys, nil }})
}

// Runs lists the latest runs, newest first.
func (s *Service) Runs(ctx context.Context, kind string, limit int) ([]Run, error) {
	if limit <= 0 {
		limit = 20
	}
	q := `SELECT id, kind, requested_by, state, backup_id, severity, bytes, rows_count, took_ms, rpo_ms, detail, started_at, finished_at
		FROM backup_runs WHERE ($1 = '' OR kind = $1) ORDER BY started_at DESC, id DESC LIMIT $2`
	rows, err := s.DB.QueryContext(ctx, q, kind, limit)
	if err != nil {
		return nil, fmt.Errorf("backup runs: %w", err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		var r Run
		var took, rpo int64
		var fin sql.NullTime
		if err := rows.Scan(&r.ID, &r.Kind, &r.RequestedBy, &r.State, &r.BackupID, &r.Severity, &r.Bytes, &r.Rows, &took, &rpo,
			&r.Detail, &r.StartedAt, &fin); err != nil {
			return nil, fmt.Errorf("backup runs: %w", err)
		}
		r.Took, r.RPO = time.Duration(took)*time.Millisecond, time.Duration(rpo)*time.Millisecond
		if fin.Valid {
			t := fin.Time
			r.FinishedAt = &t
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Schedule runs backups every backupEvery and drills every drillEvery (0
// turns either off) until ctx ends. Each run's id is its kind and time
// slot, so of several replicas only one runs it.
func (s *Service) Schedule(ctx context.Context, backupEvery, drillEvery time.Duration, scratch Scratch) {
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	last := map[string]time.Time{}
	for {
		now := s.now()
		for _, job := range []struct {
			kind  string
			every time.Duration
		}{{KindBackup, backupEvery}, {KindDrill, drillEvery}} {
			if job.every <= 0 {
				continue
			}
			slot := now.Truncate(job.every)
			if last[job.kind].Equal(slot) {
				continue
			}
			last[job.kind] = slot
			id := job.kind + "-" + NewID(slot)
			var err error
			if job.kind == KindBackup {
				_, err = s.RunBackup(ctx, "system", id)
			} else if err = s.awaitBackups(ctx); err == nil {
				_, err = s.Drill(ctx, "system", id, scratch)
			}
			if err != nil && !errors.Is(err, ErrTaken) && ctx.Err() == nil {
				s.log().Warn("scheduled "+job.kind, "run", id, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// awaitBackups waits while another replica's backup is running (begun in
// the last hour: an older "running" row is a replica that died), so a
// drill of the same tick restores that backup instead of failing for the
// lack of one.
func (s *Service) awaitBackups(ctx context.Context) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		var n int
		if err := s.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM backup_runs WHERE kind = 'backup' AND state = 'running' AND started_at > $1`,
			s.now().Add(-time.Hour)).Scan(&n); err != nil {
			return fmt.Errorf("backup runs: %w", err)
		}
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}
