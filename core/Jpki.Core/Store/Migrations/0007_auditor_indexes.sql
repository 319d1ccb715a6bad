-- step: expand
-- Indexes for the auditors' queries (issue 9): nothing new is stored.

-- A certificate's audit records (the trail reads them by subject).
CREATE INDEX audit_log_subject ON audit_log (subject, seq);
-- An account's audited acts in a time range (per-operator activity report).
CREATE INDEX audit_log_actor ON audit_log (actor, time_us);
-- The revocation search, in keyset order (revocation time, serial).
CREATE INDEX certificates_revoked_at ON certificates (revoked_at_us, serial) WHERE status = 'revoked';
-- The disclosure report (every read of one resident) and an operator's reads in a range.
CREATE INDEX resident_reads_resident ON resident_reads (resident_key, time_us);
CREATE INDEX resident_reads_account ON resident_reads (account, time_us);
-- Feed lag per day, by arrival time.
CREATE INDEX jukinet_events_received ON jukinet_events (received_us);
