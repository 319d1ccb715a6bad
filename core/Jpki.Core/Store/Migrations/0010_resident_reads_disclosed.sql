-- step: expand
-- What a read of a resident disclosed (issue 8): 'facts' (POST /api/v1/residents/lookup, the
-- four facts) or 'certificates' (POST /api/v1/residents/certificates, the list of the resident's
-- certificates a window reads to revoke a lost card). Earlier rows were all lookups.
ALTER TABLE resident_reads ADD COLUMN disclosed TEXT NOT NULL DEFAULT 'facts';
