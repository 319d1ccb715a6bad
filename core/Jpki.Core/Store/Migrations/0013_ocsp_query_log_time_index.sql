-- step: contract
-- The OCSP query log (0006) is appended to for every answer served, tens of thousands of rows a
-- second at peak. Its (serial, time_us) index made each append a random B-tree insert (measured
-- on SQLite: about 25 us a row with it, 4-6 us with a time index), and nothing in the product
-- reads the log by serial: the auditors' trail reads ocsp_first_revoked. Auditors and retention
-- read the log by time range, so the index is on time; a question about one certificate is a
-- scan of the period asked about.
DROP INDEX ocsp_queries_serial;

CREATE INDEX ocsp_queries_time ON ocsp_queries (time_us);
