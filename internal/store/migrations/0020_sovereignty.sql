-- Provider sovereignty profiles, every version kept (a change is a new
-- version, audited), and each environment's latest sovereignty assessment,
-- replaced when its facts or its provider's profile change
-- (docs/sovereignty.md).
CREATE TABLE sovereignty_profiles (
    name        TEXT NOT NULL,
    version     INTEGER NOT NULL,
    connection  TEXT NOT NULL,
    document    TEXT NOT NULL,
    changed_by  TEXT NOT NULL,
    changed_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE INDEX sovereignty_profiles_connection ON sovereignty_profiles (connection, version);

CREATE TABLE sovereignty_assessments (
    env_id           TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL,
    connection       TEXT NOT NULL,
    profile          TEXT NOT NULL,
    profile_version  INTEGER NOT NULL,
    classification   TEXT NOT NULL,
    score            DOUBLE PRECISION NOT NULL,
    breaches         INTEGER NOT NULL,
    report           TEXT NOT NULL,
    placement        TEXT NOT NULL,
    assessed_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX sovereignty_assessments_org ON sovereignty_assessments (org_id, env_id);
CREATE INDEX sovereignty_assessments_connection ON sovereignty_assessments (connection, env_id);
