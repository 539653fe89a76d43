-- Baseline products (internal/baseline, docs/baselines.md): central
-- publishes signed, immutable releases of infrastructure code with the
-- controls and notification rules they carry; tenants deploy them into
-- their own environments through short-lived deploy sessions.

CREATE TABLE baseline_products (
    name        TEXT PRIMARY KEY,
    created_by  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);

-- A release is never updated: publishing the same version again with the
-- same content is a no-op, with other content a conflict.
CREATE TABLE baseline_releases (
    product         TEXT NOT NULL REFERENCES baseline_products (name),
    version         TEXT NOT NULL,
    -- The version's numbers, for ordering without parsing.
    major           INTEGER NOT NULL,
    minor           INTEGER NOT NULL,
    patch           INTEGER NOT NULL,
    prerelease      TEXT NOT NULL,
    format          TEXT NOT NULL CHECK (format IN ('cloudformation', 'terraform', 'heat')),
    template        TEXT NOT NULL,
    template_sha256 TEXT NOT NULL,
    -- SHA-256 of the release's content (format, template, controls,
    -- notification rules, changelog): what makes a re-publish the same.
    content_sha256  TEXT NOT NULL,
    controls        TEXT NOT NULL,
    notifications   TEXT NOT NULL,
    changelog       TEXT NOT NULL,
    -- The signed manifest (canonical JSON) and its signed note.
    manifest        TEXT NOT NULL,
    note            TEXT NOT NULL,
    scan            TEXT NOT NULL,
    published_by    TEXT NOT NULL,
    published_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (product, version)
);

-- A tenant administrator's short-lived authority to deploy into one
-- environment with its Administrator permission set.
CREATE TABLE baseline_sessions (
    id             TEXT PRIMARY KEY,
    env_id         TEXT NOT NULL,
    org_id         TEXT NOT NULL,
    person_id      TEXT NOT NULL,
    permission_set TEXT NOT NULL,
    confirmed_by   TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    expires_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX baseline_sessions_env ON baseline_sessions (env_id, person_id);

CREATE TABLE baseline_deployments (
    id              TEXT PRIMARY KEY,
    env_id          TEXT NOT NULL,
    org_id          TEXT NOT NULL,
    product         TEXT NOT NULL,
    version         TEXT NOT NULL,
    template_sha256 TEXT NOT NULL,
    stack_name      TEXT NOT NULL,
    stack_id        TEXT NOT NULL,
    operation       TEXT NOT NULL CHECK (operation IN ('create', 'update')),
    state           TEXT NOT NULL CHECK (state IN ('in_progress', 'succeeded', 'failed')),
    stack_status    TEXT NOT NULL,
    reason          TEXT NOT NULL,
    session_id      TEXT NOT NULL,
    deployed_by     TEXT NOT NULL,
    started_at      TIMESTAMPTZ NOT NULL,
    finished_at     TIMESTAMPTZ
);
CREATE INDEX baseline_deployments_env ON baseline_deployments (env_id, started_at);

-- What each environment runs: the last successful deployment per product.
CREATE TABLE baseline_adoptions (
    env_id          TEXT NOT NULL,
    product         TEXT NOT NULL,
    org_id          TEXT NOT NULL,
    version         TEXT NOT NULL,
    template_sha256 TEXT NOT NULL,
    stack_name      TEXT NOT NULL,
    stack_id        TEXT NOT NULL,
    deployment_id   TEXT NOT NULL,
    deployed_by     TEXT NOT NULL,
    deployed_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (env_id, product)
);
