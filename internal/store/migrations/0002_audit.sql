-- The tamper-evident audit log (internal/audit, docs/audit.md).
--
-- Capabilities append to audit_queue inside their own transactions: one plain
-- insert, no lock, no signature. The integrator moves queued rows, in id
-- order, into audit_entries, where each gets its place in the Merkle tree
-- (seq), its leaf hash, the tree root after it and a signed checkpoint for
-- that tree size.
--
-- Times are microseconds since the Unix epoch (UTC) in a BIGINT: the leaf
-- hash covers the exact value, and an integer reads back the same from both
-- databases. details is TEXT, not JSONB: the hash covers its exact bytes,
-- which JSONB would reorder.

CREATE TABLE audit_queue (
    id       BIGSERIAL PRIMARY KEY,
    at_us    BIGINT NOT NULL,
    actor    TEXT NOT NULL,
    action   TEXT NOT NULL,
    org_id   TEXT NOT NULL,
    target   TEXT NOT NULL,
    grant_id TEXT NOT NULL,
    details  TEXT NOT NULL
);

CREATE TABLE audit_entries (
    seq       BIGINT PRIMARY KEY,
    at_us     BIGINT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    org_id    TEXT NOT NULL,
    target    TEXT NOT NULL,
    grant_id  TEXT NOT NULL,
    details   TEXT NOT NULL,
    -- SHA-256(0x00 || canonical encoding with seq); see docs/audit.md.
    leaf_hash BYTEA NOT NULL,
    -- The RFC 6962 root of the tree of entries 0..seq.
    root      BYTEA NOT NULL,
    -- The note signature of the checkpoint for tree size seq+1: the 4-byte
    -- key hash followed by the 64-byte Ed25519 signature.
    signature BYTEA NOT NULL
);
-- A tenant's entries, in log order.
CREATE INDEX audit_entries_org ON audit_entries (org_id, seq);
CREATE INDEX audit_entries_at ON audit_entries (at_us);

-- Hashes of the perfect subtrees of 256 leaves and more (level >= 8), so an
-- inclusion proof reads at most 256 leaf hashes and one row per level above.
-- Derived data: every proof built from it is checked against the signed root.
CREATE TABLE audit_nodes (
    level INTEGER NOT NULL,
    idx   BIGINT NOT NULL,
    hash  BYTEA NOT NULL,
    PRIMARY KEY (level, idx)
);

-- The integrator's state: the tree size and its compact range (the hashes of
-- the perfect subtrees covering entries 0..size-1, concatenated), checked
-- against the last entry's root before every use.
CREATE TABLE audit_tree (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    size   BIGINT NOT NULL,
    hashes BYTEA NOT NULL
);
