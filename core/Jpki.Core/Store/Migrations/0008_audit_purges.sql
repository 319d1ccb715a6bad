-- step: expand
-- Audit retention (issue 9). A purged record becomes a tombstone: actor, subject and details
-- are blanked, while seq, time_us, action, prev_hash and hash stay, so the chain still links
-- and every checkpoint still verifies. purged_by is the seq of the 'audit.purged' record whose
-- details commit to the tombstones it made (count and SHA-256 over "seq:hash\n" lines).
ALTER TABLE audit_log ADD COLUMN purged_by BIGINT NULL;
