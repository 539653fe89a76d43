-- Each audit entry's place among its organisation's entries (0, 1, 2 …),
-- committed in its leaf hash (the v2 leaf format): a tenant's bundle can then
-- prove it holds every entry of the organisation in its range — a deleted,
-- repeated or reordered entry breaks the run of indexes. -1 marks entries
-- written in the v1 format, before the index existed.
ALTER TABLE audit_entries ADD COLUMN org_index BIGINT NOT NULL DEFAULT -1;

-- The integrator's count of each organisation's entries: the next index.
CREATE TABLE audit_org_heads (
    org_id TEXT PRIMARY KEY,
    count  BIGINT NOT NULL
);
INSERT INTO audit_org_heads (org_id, count) SELECT org_id, COUNT(*) FROM audit_entries GROUP BY org_id;
