-- People who sign in. Central staff (central-operator, central-auditor) have
-- no organisation; tenant people (tenant-admin, tenant-member) belong to one,
-- and their scope is that organisation's subtree.
CREATE TABLE people (
    id           TEXT PRIMARY KEY,
    org_id       TEXT REFERENCES organizations (id),
    role         TEXT NOT NULL,
    display_name TEXT NOT NULL,
    email        TEXT NOT NULL DEFAULT '',
    state        TEXT NOT NULL,
    invited_by   TEXT NOT NULL DEFAULT '',
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX people_org ON people (org_id);

-- Invitations bind a certificate to a person: only the token's hash is kept.
CREATE TABLE invitations (
    id          TEXT PRIMARY KEY,
    token_hash  BYTEA NOT NULL UNIQUE,
    person_id   TEXT NOT NULL REFERENCES people (id),
    created_by  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    accepted_at TIMESTAMPTZ
);
CREATE INDEX invitations_person ON invitations (person_id);

-- A certificate, by issuer and serial, and its public key, is one person.
CREATE TABLE person_certificates (
    issuer_dn   TEXT NOT NULL,
    serial      TEXT NOT NULL,
    spki_sha256 BYTEA NOT NULL,
    person_id   TEXT NOT NULL REFERENCES people (id),
    subject_dn  TEXT NOT NULL DEFAULT '',
    not_after   TIMESTAMPTZ NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (issuer_dn, serial)
);
CREATE INDEX person_certificates_person ON person_certificates (person_id);

-- Console sessions and API bearer tokens: only the secret's hash is kept.
CREATE TABLE sessions (
    id_hash        BYTEA PRIMARY KEY,
    person_id      TEXT NOT NULL REFERENCES people (id),
    kind           TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    expires_at     TIMESTAMPTZ NOT NULL,
    second_factor_at TIMESTAMPTZ,
    cert_issuer_dn TEXT NOT NULL DEFAULT '',
    cert_serial    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_person ON sessions (person_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- One-time challenges the CLI signs with the card's key.
CREATE TABLE login_challenges (
    id         TEXT PRIMARY KEY,
    nonce      BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ
);

-- Who holds which of an environment's two permission sets (package
-- envaccess). One row per person and environment: changing the set moves
-- the person. state is pending (to be put into the set's group in the
-- provider), applied, removing (to be taken out; the row is deleted then)
-- or failed (the provider refused; last_error says why). revision counts
-- the changes people make, so a worker that applied an older revision does
-- not mark a newer one applied.
CREATE TABLE env_access (
    env_id         TEXT NOT NULL REFERENCES environments (id),
    person_id      TEXT NOT NULL REFERENCES people (id),
    permission_set TEXT NOT NULL,
    state          TEXT NOT NULL,
    revision       BIGINT NOT NULL DEFAULT 1,
    last_error     TEXT NOT NULL DEFAULT '',
    assigned_by    TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (env_id, person_id)
);
CREATE INDEX env_access_person ON env_access (person_id);
CREATE INDEX env_access_unsettled ON env_access (state) WHERE state IN ('pending', 'removing');

-- Break-glass: a central operator's time-boxed access to one tenant's
-- subtree, approved by an administrator of that tenant and by a second
-- central operator.
CREATE TABLE access_requests (
    id                   TEXT PRIMARY KEY,
    requester_id         TEXT NOT NULL REFERENCES people (id),
    org_id               TEXT NOT NULL REFERENCES organizations (id),
    reason               TEXT NOT NULL,
    duration_seconds     BIGINT NOT NULL,
    state                TEXT NOT NULL,
    tenant_approver_id   TEXT REFERENCES people (id),
    tenant_approved_at   TIMESTAMPTZ,
    operator_approver_id TEXT REFERENCES people (id),
    operator_approved_at TIMESTAMPTZ,
    decided_by           TEXT NOT NULL DEFAULT '',
    decision_note        TEXT NOT NULL DEFAULT '',
    starts_at            TIMESTAMPTZ,
    expires_at           TIMESTAMPTZ,
    created_at           TIMESTAMPTZ NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL
);
CREATE INDEX access_requests_requester ON access_requests (requester_id, state);
CREATE INDEX access_requests_org ON access_requests (org_id, state);

-- Notifications for a tenant's administrators (and, with person_id, for
-- one person): each break-glass step tells the tenant.
CREATE TABLE notifications (
    id         BIGSERIAL PRIMARY KEY,
    org_id     TEXT REFERENCES organizations (id),
    person_id  TEXT REFERENCES people (id),
    kind       TEXT NOT NULL,
    subject_id TEXT NOT NULL DEFAULT '',
    message    TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    read_at    TIMESTAMPTZ
);
CREATE INDEX notifications_org ON notifications (org_id, created_at);
