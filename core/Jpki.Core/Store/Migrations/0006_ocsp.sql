-- step: expand
-- OCSP responder (issue 7): every query it answered, and when it first served 'revoked'.

-- Every OCSP query, append-only (high volume: not hashed into the audit chain, DESIGN.md §4).
-- verifier: the account id, or 'network:<cidr>' for an allowlisted source network, or NULL
-- when refused; serial NULL when the request could not be read; answer: good, revoked,
-- unknown, or the OCSP error status (malformedRequest, unauthorized, tryLater, internalError).
CREATE TABLE ocsp_queries (
    id          {id},
    verifier    TEXT NULL,
    issuer_key_id TEXT NULL,
    serial      TEXT NULL,
    answer      TEXT NOT NULL,
    nonce       INTEGER NOT NULL,
    time_us     BIGINT NOT NULL
);

CREATE INDEX ocsp_queries_serial ON ocsp_queries (serial, time_us);

-- For the auditors' revocation trail (DESIGN.md §7): the producedAt of the first 'revoked'
-- answer the responder installed for each certificate. Written once; never updated.
CREATE TABLE ocsp_first_revoked (
    serial       TEXT PRIMARY KEY REFERENCES certificates (serial),
    produced_us  BIGINT NOT NULL,
    installed_us BIGINT NOT NULL
);
