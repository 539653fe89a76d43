-- The national concentration's history: one point per day (Japan time)
-- and dimension (provider, region, zone), the day's last figure after a
-- full rescore replacing its earlier ones, so the console can draw the
-- Herfindahl–Hirschman index over time. Points older than the retention
-- (sovereignty.ConcentrationRetention, 400 days) are deleted as new ones
-- are written (docs/sovereignty.md).
CREATE TABLE sovereignty_concentration_history (
    dimension     TEXT NOT NULL,
    day           TEXT NOT NULL,
    hhi           DOUBLE PRECISION NOT NULL,
    environments  INTEGER NOT NULL,
    parties       INTEGER NOT NULL,
    top_key       TEXT NOT NULL,
    top_share     DOUBLE PRECISION NOT NULL,
    recorded_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (dimension, day)
);
