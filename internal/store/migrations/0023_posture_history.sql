-- Every evaluation's score, not just the last (posture keeps that one), so
-- the console can draw a score's history: a sparkline for an environment
-- and, summed per day, for an organisation's subtree. Pruned with the
-- environment's other posture rows when it closes.
CREATE TABLE posture_history (
    env_id       TEXT NOT NULL,
    org_id       TEXT NOT NULL,
    evaluated_at TIMESTAMPTZ NOT NULL,
    resources    INTEGER NOT NULL,
    checks       INTEGER NOT NULL,
    failed       INTEGER NOT NULL,
    PRIMARY KEY (env_id, evaluated_at)
);
CREATE INDEX posture_history_org ON posture_history (org_id, evaluated_at);
