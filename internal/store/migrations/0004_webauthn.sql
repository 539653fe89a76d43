-- WebAuthn security keys, the second factor on top of the smart card
-- (internal/mfa). The user handle the authenticators hold is derived from
-- people.id, so no per-person row is needed here.
CREATE TABLE webauthn_credentials (
    -- The credential ID the authenticator chose. Unique across everyone: the
    -- specification asks a relying party to refuse an ID it already holds.
    id                 BYTEA PRIMARY KEY,
    person_id          TEXT NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    -- The relying party ID (the console's host name) the key was made for;
    -- a key only works under the same one.
    rp_id              TEXT NOT NULL,
    name               TEXT NOT NULL,
    public_key         BYTEA NOT NULL,
    attestation_type   TEXT NOT NULL DEFAULT '',
    attestation_format TEXT NOT NULL DEFAULT '',
    aaguid             BYTEA NOT NULL,
    -- The authenticator's signature counter, 0 to 2^32-1.
    sign_count         BIGINT NOT NULL DEFAULT 0,
    -- Set when an assertion's counter did not go up: the key may have been
    -- cloned, and it is refused until it is removed and registered again.
    clone_warning      BOOLEAN NOT NULL DEFAULT FALSE,
    -- The authenticator data flags octet (UP, UV, BE, BS …) as last seen.
    flags              INTEGER NOT NULL DEFAULT 0,
    user_verified      BOOLEAN NOT NULL DEFAULT FALSE,
    backup_eligible    BOOLEAN NOT NULL DEFAULT FALSE,
    backup_state       BOOLEAN NOT NULL DEFAULT FALSE,
    -- Comma-separated (usb,nfc,ble,internal,hybrid …).
    transports         TEXT NOT NULL DEFAULT '',
    attachment         TEXT NOT NULL DEFAULT '',
    created_at         TIMESTAMPTZ NOT NULL,
    last_used_at       TIMESTAMPTZ
);
CREATE INDEX webauthn_credentials_person ON webauthn_credentials (person_id);

-- Registrations and assertions between their begin and finish steps. The
-- state lives here, not in one replica's memory, so any replica can finish
-- what another began; finishing deletes the row, so each is used once.
CREATE TABLE webauthn_ceremonies (
    id         TEXT PRIMARY KEY,
    person_id  TEXT NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('registration', 'login')),
    -- What an assertion confirms ("" for signing in; an action such as
    -- "break-glass/approve/ar-…"): finishing it for anything else fails.
    purpose    TEXT NOT NULL DEFAULT '',
    -- go-webauthn's SessionData as JSON: the challenge and what it expects.
    session    TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX webauthn_ceremonies_person ON webauthn_ceremonies (person_id);
CREATE INDEX webauthn_ceremonies_expiry ON webauthn_ceremonies (expires_at);
