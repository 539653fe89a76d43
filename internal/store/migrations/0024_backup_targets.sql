-- Tenants' backups, governed (issue 15 §2, docs/backup.md "Tenants'
-- backups"). An environment that asks for one gets a backup target: a
-- bucket (S3, Object Lock) or container (Swift, immutability metadata) on
-- the domestic tier at another provider than its own, made by the vending
-- step backup_target. The row is written with the request (the target's
-- connection chosen then, so a request no other domestic provider can serve
-- is refused before anything is stored) and completed by the step.
CREATE TABLE backup_targets (
    env_id         TEXT PRIMARY KEY REFERENCES environments (id),
    provider       TEXT NOT NULL,
    tier           TEXT NOT NULL,
    jurisdiction   TEXT NOT NULL,
    region         TEXT NOT NULL DEFAULT '',
    bucket         TEXT NOT NULL,
    lock_mode      TEXT NOT NULL,
    retention_days INTEGER NOT NULL,
    state          TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    ready_at       TIMESTAMPTZ
);

-- Restore-test evidence a tenant's administrator (or key owner) submits,
-- each signed with their card: the statement, its signature and the card's
-- certificate are kept as they came, so the evidence can be checked again
-- later without trusting hatoba's word. The statement's hash is unique: a
-- confirmation is spent once.
CREATE TABLE restore_tests (
    id               TEXT PRIMARY KEY,
    env_id           TEXT NOT NULL REFERENCES environments (id),
    org_id           TEXT NOT NULL,
    performed_at     TIMESTAMPTZ NOT NULL,
    restored         TEXT NOT NULL,
    result           TEXT NOT NULL,
    note             TEXT NOT NULL DEFAULT '',
    submitted_by     TEXT NOT NULL,
    submitted_at     TIMESTAMPTZ NOT NULL,
    statement_sha256 TEXT NOT NULL UNIQUE,
    statement        BYTEA NOT NULL,
    signature        BYTEA NOT NULL,
    certificate      BYTEA NOT NULL
);
CREATE INDEX restore_tests_env ON restore_tests (env_id, performed_at);
