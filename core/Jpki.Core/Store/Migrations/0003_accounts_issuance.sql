-- step: expand
-- Accounts, end-entity issuance and the CA API's own logs.

-- API accounts. Only the SHA-256 of each bearer token is kept, and the password only as a
-- memory-hard hash (scrypt); municipality_codes is a JSON array of the 6-digit codes an
-- operator may issue for (empty for other roles). Repeated failed logins lock the password
-- login until locked_until_us.
CREATE TABLE accounts (
    id                 TEXT PRIMARY KEY,
    role               TEXT NOT NULL CHECK (role IN ('operator', 'officer', 'auditor', 'verifier')),
    municipality_codes TEXT NOT NULL,
    token_sha256       TEXT NOT NULL UNIQUE,
    password_hash      TEXT NULL,
    failed_logins      INTEGER NOT NULL DEFAULT 0,
    locked_until_us    BIGINT NULL,
    disabled           INTEGER NOT NULL DEFAULT 0,
    created_us         BIGINT NOT NULL
);

-- Short-lived tokens from password logins (POST /api/v1/sessions); only their SHA-256.
CREATE TABLE sessions (
    token_sha256 TEXT PRIMARY KEY,
    account      TEXT NOT NULL REFERENCES accounts (id),
    expires_us   BIGINT NOT NULL,
    created_us   BIGINT NOT NULL
);

-- End-entity columns: the holder's public key (a key is certified once), the exact CRL DP
-- extension (partition CRLs copy it) and where the card is in delivery.
ALTER TABLE certificates ADD COLUMN spki_sha256 TEXT NULL;
ALTER TABLE certificates ADD COLUMN crl_dp_der {blob} NULL;
ALTER TABLE certificates ADD COLUMN delivery_state TEXT NULL CHECK (delivery_state IN ('issued', 'delivered', 'destroyed'));

CREATE UNIQUE INDEX certificates_spki ON certificates (spki_sha256);

-- The per-JST-day sequence of issuance ids (yyyyMMddHHmmss + 5 digits + window id).
CREATE TABLE issuance_counters (
    jst_date TEXT PRIMARY KEY,
    last     BIGINT NOT NULL
);

-- The first answer to each Idempotency-Key of an account: a retry gets it back unchanged.
CREATE TABLE idempotency (
    account        TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_sha256 TEXT NOT NULL,
    status         INTEGER NOT NULL,
    body           TEXT NOT NULL,
    created_us     BIGINT NOT NULL,
    PRIMARY KEY (account, idempotency_key)
);

-- Every read of a resident's four facts: who, why, whose (HMAC key, never the code), when.
-- High volume, so append-only here rather than hashed one by one into the audit chain.
CREATE TABLE resident_reads (
    id           {id},
    account      TEXT NOT NULL,
    purpose      TEXT NOT NULL,
    resident_key {blob} NOT NULL,
    hmac_key_id  TEXT NOT NULL,
    time_us      BIGINT NOT NULL
);
