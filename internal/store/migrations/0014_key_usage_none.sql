-- A tenant key may allow neither encrypt nor decrypt (usage 'none',
-- docs/keys.md): its owner freezes it without disabling it, and AWS's test
-- procedures for XKS proxies need such a key. The usage column's CHECK
-- gains the value. SQLite cannot alter a CHECK, so both tables are built
-- anew under other names, filled, and renamed into place (renaming a table
-- carries the foreign key that names it, in SQLite and PostgreSQL alike);
-- the key versions go along because their foreign key names tenant_keys.

CREATE TABLE tenant_keys_0014 (
    org_id          TEXT NOT NULL REFERENCES key_stores (org_id),
    -- The external key id the cloud names (XKS: 1 to 128 characters).
    id              TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    usage           TEXT NOT NULL CHECK (usage IN ('encrypt_decrypt', 'encrypt_only', 'decrypt_only', 'none')),
    state           TEXT NOT NULL CHECK (state IN ('enabled', 'disabled')),
    -- The version new ciphertexts are made with; older ones still decrypt.
    current_version INTEGER NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (org_id, id)
);
INSERT INTO tenant_keys_0014 (org_id, id, description, usage, state, current_version, created_at, updated_at)
    SELECT org_id, id, description, usage, state, current_version, created_at, updated_at FROM tenant_keys;

CREATE TABLE tenant_key_versions_0014 (
    org_id     TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    version    INTEGER NOT NULL,
    -- The AES-256 key material sealed by the master key (nonce, ciphertext,
    -- tag), its associated data naming org, key and version so that rows
    -- cannot be swapped between tenants or versions.
    wrapped    BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (org_id, key_id, version),
    FOREIGN KEY (org_id, key_id) REFERENCES tenant_keys_0014 (org_id, id)
);
INSERT INTO tenant_key_versions_0014 (org_id, key_id, version, wrapped, created_at)
    SELECT org_id, key_id, version, wrapped, created_at FROM tenant_key_versions;

DROP TABLE tenant_key_versions;
DROP TABLE tenant_keys;
ALTER TABLE tenant_keys_0014 RENAME TO tenant_keys;
ALTER TABLE tenant_key_versions_0014 RENAME TO tenant_key_versions;
