-- Each replica that runs vending workers holds a lease it renews every few
-- seconds. A lease past expires_at belongs to a replica that stopped
-- (crashed, partitioned or shut down): a surviving replica takes over its
-- provider slots and resumes its running jobs at once, instead of waiting
-- for River's time-based rescue.
CREATE TABLE vend_replicas (
    id         TEXT PRIMARY KEY,
    host       TEXT NOT NULL,
    pid        INTEGER NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);

-- The replica whose lease covers a slot; '' for slots taken before leases.
ALTER TABLE vend_slots ADD COLUMN holder TEXT NOT NULL DEFAULT '';
CREATE INDEX vend_slots_holder ON vend_slots (holder);

-- The dispatcher's line: approved or provisioning environments without an
-- account yet, oldest first, per provider.
CREATE INDEX environments_dispatch ON environments (provider, state, created_at) WHERE account_id = '';
