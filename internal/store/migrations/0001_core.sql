-- Organisation registry: the real-world structure hatoba maps onto providers.
CREATE TABLE organizations (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    lg_code       TEXT UNIQUE,
    name_ja       TEXT NOT NULL,
    name_kana     TEXT NOT NULL DEFAULT '',
    name_en       TEXT NOT NULL DEFAULT '',
    parent_id     TEXT REFERENCES organizations (id),
    billing_name  TEXT NOT NULL DEFAULT '',
    billing_email TEXT NOT NULL DEFAULT '',
    billing_phone TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX organizations_parent ON organizations (parent_id);
CREATE INDEX organizations_kind ON organizations (kind);

-- Per-organisation quota overrides; the configured default applies otherwise.
CREATE TABLE org_quotas (
    org_id           TEXT PRIMARY KEY REFERENCES organizations (id),
    max_environments INTEGER NOT NULL
);

-- Provider units (OUs, domains) hatoba created or found, by path.
CREATE TABLE provider_units (
    provider TEXT NOT NULL,
    path     TEXT NOT NULL,
    unit_id  TEXT NOT NULL,
    PRIMARY KEY (provider, path)
);

CREATE TABLE environments (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organizations (id),
    system_name     TEXT NOT NULL,
    purpose         TEXT NOT NULL,
    classification  TEXT NOT NULL,
    provider        TEXT NOT NULL,
    state           TEXT NOT NULL,
    state_reason    TEXT NOT NULL DEFAULT '',
    approval_notes  TEXT NOT NULL DEFAULT '',
    account_id      TEXT NOT NULL DEFAULT '',
    account_email   TEXT NOT NULL,
    unit_path       TEXT NOT NULL DEFAULT '',
    unit_move_pending BOOLEAN NOT NULL DEFAULT FALSE,
    requested_by    TEXT NOT NULL DEFAULT '',
    decided_by      TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    ready_at        TIMESTAMPTZ
);
CREATE INDEX environments_org ON environments (org_id);
CREATE INDEX environments_state ON environments (state, created_at);
-- One live environment per organisation, system and purpose.
CREATE UNIQUE INDEX environments_live_system ON environments (org_id, system_name, purpose) WHERE state <> 'closed' AND state <> 'rejected';

-- The vending workflow's steps, one row per environment and step.
CREATE TABLE vend_steps (
    env_id      TEXT NOT NULL REFERENCES environments (id),
    step        TEXT NOT NULL,
    position    INTEGER NOT NULL,
    state       TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT NOT NULL DEFAULT '',
    error_class TEXT NOT NULL DEFAULT '',
    detail      TEXT NOT NULL DEFAULT '',
    started_at  TIMESTAMPTZ,
    finished_at TIMESTAMPTZ,
    PRIMARY KEY (env_id, step)
);

-- Everything that happened to an environment, in order.
CREATE TABLE env_events (
    id      BIGSERIAL PRIMARY KEY,
    env_id  TEXT NOT NULL REFERENCES environments (id),
    at      TIMESTAMPTZ NOT NULL,
    kind    TEXT NOT NULL,
    actor   TEXT NOT NULL DEFAULT '',
    message TEXT NOT NULL DEFAULT ''
);
CREATE INDEX env_events_env ON env_events (env_id, id);

-- Idempotency-Key of creating requests: a retry returns the first result.
CREATE TABLE idempotency_keys (
    key          TEXT PRIMARY KEY,
    request_hash TEXT NOT NULL,
    env_id       TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL
);

-- Provider concurrency slots, shared by every replica: a row per in-flight
-- account creation, at most cap rows per provider.
CREATE TABLE vend_slots (
    provider    TEXT NOT NULL,
    slot        INTEGER NOT NULL,
    env_id      TEXT NOT NULL UNIQUE,
    acquired_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (provider, slot)
);
