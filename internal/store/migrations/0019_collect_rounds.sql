-- Rounds of inventory collection over every ready environment — the
-- scheduled ones and those an operator starts — with their progress, so
-- any replica can show it. One runs at a time across replicas; a round
-- whose replica stopped updating it is marked interrupted.
CREATE TABLE collect_rounds (
    id           TEXT PRIMARY KEY,
    requested_by TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('running', 'finished', 'interrupted')),
    total        INTEGER NOT NULL,
    done         INTEGER NOT NULL,
    failed       INTEGER NOT NULL,
    started_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    finished_at  TIMESTAMPTZ
);
CREATE UNIQUE INDEX collect_rounds_one_running ON collect_rounds (state) WHERE state = 'running';
CREATE INDEX collect_rounds_started ON collect_rounds (started_at);
