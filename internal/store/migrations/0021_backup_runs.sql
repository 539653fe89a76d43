-- hatoba's own backups and restore drills (internal/backup,
-- docs/backup.md): one row per run, whoever started it. A scheduled run's
-- id is its kind and time slot, so of several replicas only the first to
-- insert it runs it. A failed drill is a critical platform finding:
-- severity 'critical', shown to central operators on the console's backup
-- page and in the audit log (backup.drill).
CREATE TABLE backup_runs (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('backup', 'drill')),
    requested_by TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('running', 'ok', 'failed')),
    backup_id    TEXT NOT NULL DEFAULT '',
    severity     TEXT NOT NULL DEFAULT '',
    bytes        BIGINT NOT NULL DEFAULT 0,
    rows_count   BIGINT NOT NULL DEFAULT 0,
    took_ms      BIGINT NOT NULL DEFAULT 0,
    rpo_ms       BIGINT NOT NULL DEFAULT 0,
    detail       TEXT NOT NULL DEFAULT '',
    started_at   TIMESTAMPTZ NOT NULL,
    finished_at  TIMESTAMPTZ
);
CREATE INDEX backup_runs_kind ON backup_runs (kind, started_at);
