-- Controls central operators add to the catalog (internal/controls,
-- custom.go; docs/controls.md, "Custom controls"): control.yaml's
-- metadata as JSON, the Rego module and its tests. Built-in controls live
-- in the binary, never here.
CREATE TABLE custom_controls (
    id         TEXT PRIMARY KEY,
    metadata   TEXT NOT NULL,
    policy     TEXT NOT NULL,
    tests      TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
