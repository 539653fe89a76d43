-- Key owners (docs/keys.md): the tenant administrators who control their
-- organisation's keys in the key service. A tenant administrator designates
-- them; no central role can.
ALTER TABLE people ADD COLUMN key_owner BOOLEAN NOT NULL DEFAULT FALSE;
