-- hatoba's own secrets (internal/secrets, docs/keys.md): provider
-- credentials and the like, encrypted through the key service under the
-- platform's key. The name is the AAD, so a row cannot be moved to another
-- name; the database never holds a secret in the clear.
CREATE TABLE sealed_secrets (
    name       TEXT PRIMARY KEY,
    ciphertext BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
