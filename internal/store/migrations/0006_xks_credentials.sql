-- XKS proxy credentials (internal/keys, docs/keys.md): the SigV4 access
-- keys AWS KMS signs with for a tenant's external key store. A store has at
-- most two live ones, so a credential can be rotated without downtime. The
-- secret is stored only wrapped (AES-256-GCM) by the master key, like key
-- material; a revoked credential keeps its row (for the record) but not its
-- secret.
CREATE TABLE xks_credentials (
    -- AWS-style: 20 upper-case letters and digits, e.g. HATOBA…
    access_key_id  TEXT PRIMARY KEY,
    org_id         TEXT NOT NULL REFERENCES key_stores (org_id),
    -- The secret sealed by the master key (nonce, ciphertext, tag), its
    -- associated data naming org and access key id; empty once revoked.
    wrapped_secret BYTEA NOT NULL,
    created_by     TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    revoked_at     TIMESTAMPTZ
);

CREATE INDEX xks_credentials_org ON xks_credentials (org_id);
