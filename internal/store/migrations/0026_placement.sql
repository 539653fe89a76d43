-- The placement policy (docs/providers.md#placement): which provider
-- connections each classification may be placed on, and whether a
-- system stays on one provider. Every version is kept; the highest is in
-- force. Version 1 is seeded from the configuration on the first start.
CREATE TABLE placement_policies (
    version     INTEGER PRIMARY KEY,
    document    TEXT NOT NULL,
    changed_by  TEXT NOT NULL,
    changed_at  TIMESTAMPTZ NOT NULL
);
