-- An environment's inventory as one compressed row instead of a row per
-- resource: at ~75 resources an environment, the per-row keys and index
-- entries (environment, type and ARN, repeated in the primary key) were most
-- of its 48 KiB; the inventory is only ever read and replaced whole.
-- data: a format byte (1: DEFLATE of the JSON array of resources), then the
-- bytes. inventory_resources stays readable until each environment's next
-- collection replaces its rows.
CREATE TABLE inventories (
    env_id      TEXT PRIMARY KEY REFERENCES environments (id),
    resources   INTEGER NOT NULL,
    data        BYTEA NOT NULL,
    observed_at TIMESTAMPTZ NOT NULL
);
