-- An Idempotency-Key belongs to the principal that sent it: one person's
-- keys are their own namespace, so tenant B reusing a key tenant A chose
-- makes B's environment instead of answering 409 (or, worse, A's result).
-- The primary key becomes (principal, key); SQLite cannot change a primary
-- key in place, so the table is copied, on both databases alike.
CREATE TABLE idempotency_keys_scoped (
    principal    TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    env_id       TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (principal, key)
);

-- Existing keys go to the person who made their environment. requested_by
-- is "<person> under <grant>" for an operator acting under break-glass;
-- person ids are "p-" and 16 base32 characters (identity.newID), so the
-- person is its first 18 characters, and both databases can say that.
INSERT INTO idempotency_keys_scoped (principal, key, request_hash, env_id, created_at)
SELECT CASE WHEN e.requested_by LIKE 'p-% under %' THEN substr(e.requested_by, 1, 18)
            ELSE COALESCE(e.requested_by, '') END,
       k.key, k.request_hash, k.env_id, k.created_at
FROM idempotency_keys k LEFT JOIN environments e ON e.id = k.env_id;

DROP TABLE idempotency_keys;
ALTER TABLE idempotency_keys_scoped RENAME TO idempotency_keys;
