-- Which controls apply where (internal/assignments, docs/controls.md):
-- central operators assign a control to an organisation's subtree (or to
-- every organisation, org_id '') in detect or enforce mode; a preventive
-- control starts in detect and is promoted to enforce after its impact
-- was shown. Tenants ask for time-boxed exceptions for one environment,
-- decided centrally.
CREATE TABLE control_assignments (
    id          TEXT PRIMARY KEY,
    control_id  TEXT NOT NULL,
    org_id      TEXT NOT NULL,
    mode        TEXT NOT NULL CHECK (mode IN ('detect', 'enforce')),
    assigned_by TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    promoted_by TEXT,
    promoted_at TIMESTAMPTZ,
    UNIQUE (control_id, org_id)
);
CREATE INDEX control_assignments_org ON control_assignments (org_id);

CREATE TABLE control_exceptions (
    id           TEXT PRIMARY KEY,
    env_id       TEXT NOT NULL REFERENCES environments (id),
    org_id       TEXT NOT NULL,
    control_id   TEXT NOT NULL,
    reason       TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('requested', 'approved', 'rejected', 'expired')),
    requested_by TEXT NOT NULL,
    requested_at TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    decided_by   TEXT,
    decided_at   TIMESTAMPTZ,
    note         TEXT NOT NULL DEFAULT ''
);
CREATE INDEX control_exceptions_env ON control_exceptions (env_id, status);
CREATE INDEX control_exceptions_status ON control_exceptions (status, expires_at);
