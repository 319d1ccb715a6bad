-- step: expand
-- Issue 16: the OCSP query log (0006) is an access log, kept 7 years (JPKI-PROFILE.md §9), but
-- not in the hot table forever. Each JST day older than ocsp.archive.hotDays is written to one
-- gzip file of JSON lines, then its rows are deleted in the transaction that appends the
-- ocsp.queries-archived audit record (file name, SHA-256, rows). One row here per file.
-- part: 1 for a day's first file; rows of that day committed after it was archived (a responder
-- that was far behind) go to part 2, 3, ...
CREATE TABLE ocsp_query_archives (
    day         TEXT NOT NULL,
    part        INTEGER NOT NULL,
    file_name   TEXT NOT NULL UNIQUE,
    host        TEXT NOT NULL,
    row_count   BIGINT NOT NULL,
    first_id    BIGINT NOT NULL,
    last_id     BIGINT NOT NULL,
    bytes       BIGINT NOT NULL,
    sha256      TEXT NOT NULL,
    audit_seq   BIGINT NOT NULL,
    archived_us BIGINT NOT NULL,
    PRIMARY KEY (day, part)
);
