-- The key service (internal/keys): hold-your-own-key custody of tenants'
-- keys. Nothing here is secret on its own: tenant key material is stored
-- only wrapped (AES-256-GCM) by the master key, which is never stored —
-- it is split into Shamir shares held by custodians, or lives
-- non-extractable in an HSM.

-- How the master key is kept; at most one row.
CREATE TABLE key_custody (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    mode        TEXT NOT NULL CHECK (mode IN ('split', 'hsm')),
    -- Split mode: how many shares were made and how many unseal.
    shares      INTEGER NOT NULL DEFAULT 0,
    threshold   INTEGER NOT NULL DEFAULT 0,
    -- A random id every share names, so shares of another initialisation
    -- are refused before they are combined.
    keyset_id   BYTEA NOT NULL,
    -- HSM mode: the CKA_LABEL of the master key on the token.
    hsm_key_label TEXT NOT NULL DEFAULT '',
    -- A known constant sealed (AES-256-GCM, nonce first) by the master
    -- key: a combined key that does not open it is the wrong key.
    check_value BYTEA NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);

-- One key store per tenant (organisation), with its kill switch.
-- No reference to organizations: the key service may keep its own
-- database (hatoba keyd on its own host), where the control plane's
-- organisations are not; the API checks the organisation before it asks.
CREATE TABLE key_stores (
    org_id     TEXT PRIMARY KEY,
    -- While true every encrypt and decrypt with the tenant's keys fails.
    killed     BOOLEAN NOT NULL DEFAULT FALSE,
    killed_at  TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE tenant_keys (
    org_id          TEXT NOT NULL REFERENCES key_stores (org_id),
    -- The external key id the cloud names (XKS: 1 to 128 characters).
    id              TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    usage           TEXT NOT NULL CHECK (usage IN ('encrypt_decrypt', 'encrypt_only', 'decrypt_only')),
    state           TEXT NOT NULL CHECK (state IN ('enabled', 'disabled')),
    -- The version new ciphertexts are made with; older ones still decrypt.
    current_version INTEGER NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (org_id, id)
);

CREATE TABLE tenant_key_versions (
    org_id     TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    version    INTEGER NOT NULL,
    -- The AES-256 key material sealed by the master key (nonce, ciphertext,
    -- tag), its associated data naming org, key and version so that rows
    -- cannot be swapped between tenants or versions.
    wrapped    BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (org_id, key_id, version),
    FOREIGN KEY (org_id, key_id) REFERENCES tenant_keys (org_id, id)
);
