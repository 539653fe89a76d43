-- The detective side of the controls (internal/posture, docs/controls.md):
-- each environment's resource inventory as last collected, the findings
-- the detective controls make of it, and each evaluation's counts, from
-- which the compliance scores come.
CREATE TABLE inventory_resources (
    env_id      TEXT NOT NULL REFERENCES environments (id),
    type        TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    provider    TEXT NOT NULL,
    region      TEXT NOT NULL,
    -- The configuration, JSON in Terraform's attribute shape.
    config      TEXT NOT NULL,
    observed_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (env_id, type, resource_id)
);

CREATE TABLE findings (
    -- A hash of environment, control and resource: the same problem on
    -- the same resource is one finding however often it is seen.
    id            TEXT PRIMARY KEY,
    env_id        TEXT NOT NULL REFERENCES environments (id),
    org_id        TEXT NOT NULL,
    control_id    TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    severity      TEXT NOT NULL,
    message       TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('open', 'resolved')),
    first_seen    TIMESTAMPTZ NOT NULL,
    last_seen     TIMESTAMPTZ NOT NULL,
    resolved_at   TIMESTAMPTZ
);
CREATE INDEX findings_env ON findings (env_id, status);
CREATE INDEX findings_org ON findings (org_id, status);

-- One row per environment: its last evaluation. checks are the
-- (control, resource) pairs evaluated, failed those that failed.
CREATE TABLE posture (
    env_id       TEXT PRIMARY KEY REFERENCES environments (id),
    org_id       TEXT NOT NULL,
    evaluated_at TIMESTAMPTZ NOT NULL,
    resources    INTEGER NOT NULL,
    checks       INTEGER NOT NULL,
    failed       INTEGER NOT NULL
);
CREATE INDEX posture_org ON posture (org_id);
