-- Notifications (internal/notify, docs/notifications.md): each
-- organisation's channels, the events that reach them (hatoba's own
-- findings, Security Hub's ASFF, OCSF), the outbox of deliveries, the
-- tenant's suppressions, the per-organisation ingestion tokens, central's
-- signed critical digests and its notices to tenants.

-- org_id '' is central's own channels, which receive digests only.
CREATE TABLE notify_channels (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL,
    name          TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('webhook', 'slack', 'teams', 'email')),
    -- What may be shown: the URL's host, or the e-mail recipients.
    target_hint   TEXT NOT NULL,
    -- The URL and the signing key (or the recipients), encrypted through
    -- the key service under the platform's key, the channel id as AAD.
    sealed        BYTEA NOT NULL,
    min_severity  TEXT NOT NULL,
    group_seconds INTEGER NOT NULL,
    -- Quiet hours as minutes of the day in tz; equal means none.
    quiet_from    INTEGER NOT NULL,
    quiet_to      INTEGER NOT NULL,
    tz            TEXT NOT NULL,
    enabled       BOOLEAN NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    UNIQUE (org_id, name)
);

-- One row per problem on a resource, whatever reported it: dedup_key
-- (environment, resource, control) makes Security Hub's report of what
-- hatoba found the same event.
CREATE TABLE notify_events (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL,
    env_id        TEXT NOT NULL,
    dedup_key     TEXT NOT NULL,
    source        TEXT NOT NULL,
    source_id     TEXT NOT NULL,
    severity      TEXT NOT NULL,
    title         TEXT NOT NULL,
    control_id    TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('open', 'resolved')),
    suppressed_by TEXT NOT NULL,
    first_seen    TIMESTAMPTZ NOT NULL,
    last_seen     TIMESTAMPTZ NOT NULL,
    UNIQUE (org_id, dedup_key)
);
CREATE INDEX notify_events_severity ON notify_events (severity, first_seen);
CREATE INDEX notify_events_source ON notify_events (source_id);

-- The outbox: one message to one channel. States: pending (waiting for
-- its due time: the group window, quiet hours, a retry's backoff),
-- sending (claimed under a lease), delivered, dead.
CREATE TABLE notify_deliveries (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL,
    channel_id   TEXT NOT NULL REFERENCES notify_channels (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL CHECK (kind IN ('events', 'test', 'digest', 'notice')),
    payload      TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'delivered', 'dead')),
    -- collecting: events may still join it (the group window has not closed).
    collecting   BOOLEAN NOT NULL,
    events       INTEGER NOT NULL,
    attempts     INTEGER NOT NULL,
    due_at       TIMESTAMPTZ NOT NULL,
    lease_until  TIMESTAMPTZ,
    last_error   TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    delivered_at TIMESTAMPTZ
);
CREATE INDEX notify_deliveries_due ON notify_deliveries (state, due_at);
CREATE INDEX notify_deliveries_channel ON notify_deliveries (channel_id, state);
CREATE INDEX notify_deliveries_org ON notify_deliveries (org_id, created_at);

CREATE TABLE notify_delivery_events (
    delivery_id TEXT NOT NULL REFERENCES notify_deliveries (id) ON DELETE CASCADE,
    event_id    TEXT NOT NULL,
    PRIMARY KEY (delivery_id, event_id)
);

-- A tenant's suppression: events matching every non-empty field are
-- recorded but not sent, until it expires or is lifted.
CREATE TABLE notify_suppressions (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL,
    env_id      TEXT NOT NULL,
    control_id  TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    reason      TEXT NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    lifted_at   TIMESTAMPTZ
);
CREATE INDEX notify_suppressions_org ON notify_suppressions (org_id, expires_at);

-- The token an organisation's EventBridge API destination presents; only
-- its SHA-256 is kept.
CREATE TABLE notify_ingest_tokens (
    org_id     TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    created_by TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

-- Central's settings: the digest's periods and the SMTP relay.
CREATE TABLE notify_settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Central's periodic digests of critical events, signed with the
-- platform's key (a signed note over the JSON body).
CREATE TABLE notify_digests (
    id           TEXT PRIMARY KEY,
    period       TEXT NOT NULL CHECK (period IN ('daily', 'weekly')),
    period_start TIMESTAMPTZ NOT NULL,
    period_end   TIMESTAMPTZ NOT NULL,
    critical     INTEGER NOT NULL,
    signed       TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    UNIQUE (period, period_start)
);

-- Central's notice to a tenant about a critical event, and the tenant's
-- acknowledgement and fix.
CREATE TABLE notify_notices (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    message         TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('sent', 'acknowledged', 'fixed')),
    sent_by         TEXT NOT NULL,
    sent_at         TIMESTAMPTZ NOT NULL,
    acknowledged_by TEXT NOT NULL,
    acknowledged_at TIMESTAMPTZ,
    fixed_by        TEXT NOT NULL,
    fixed_at        TIMESTAMPTZ,
    fix_note        TEXT NOT NULL
);
CREATE INDEX notify_notices_org ON notify_notices (org_id, sent_at);

-- Findings from outside name a provider account; this finds its
-- environment (env.Store.EnvironmentOfAccount).
CREATE INDEX environments_account ON environments (account_id);
