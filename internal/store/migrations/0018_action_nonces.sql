-- Nonces of card-signed action confirmations (docs/keys.md): each may
-- confirm one request. A nonce is kept until its statement can no longer
-- be fresh (expires_at), then deleted, so the table holds a few minutes
-- of confirmations. The nonce is the client's random value, not a secret.
CREATE TABLE action_nonces (
    nonce            BYTEA PRIMARY KEY,
    person_id        TEXT NOT NULL REFERENCES people (id),
    statement_sha256 TEXT NOT NULL,
    used_at          TIMESTAMPTZ NOT NULL,
    expires_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX action_nonces_expiry ON action_nonces (expires_at);
