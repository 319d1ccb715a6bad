-- step: expand
-- Initial schema. Written once for both engines: the migrator replaces {id} and {blob}.
-- Instants are integer UTC microseconds (*_us), dates 'YYYY-MM-DD' text.

CREATE TABLE issuers (
    id          TEXT PRIMARY KEY,
    prefecture  TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('signing', 'authentication')),
    subject_dn  TEXT NOT NULL,
    created_us  BIGINT NOT NULL
);

CREATE TABLE issuer_keys (
    id              TEXT PRIMARY KEY,
    issuer_id       TEXT NOT NULL REFERENCES issuers (id),
    generation      INTEGER NOT NULL,
    hsm_key_label   TEXT NOT NULL,
    certificate_der {blob} NULL,
    not_before_us   BIGINT NOT NULL,
    not_after_us    BIGINT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('active', 'retired', 'compromised')),
    created_us      BIGINT NOT NULL,
    UNIQUE (issuer_id, generation)
);

-- Serials are lowercase hex and unique across the whole install, not only per issuer.
CREATE TABLE certificates (
    serial            TEXT PRIMARY KEY CHECK (serial = lower(serial)),
    issuer_key_id     TEXT NOT NULL REFERENCES issuer_keys (id),
    kind              TEXT NOT NULL CHECK (kind IN ('root', 'ocsp-responder', 'audit-checkpoint', 'signing', 'authentication')),
    municipality_code TEXT NULL,
    resident_key      {blob} NULL,
    hmac_key_id       TEXT NULL,
    juki_sequence     BIGINT NULL,
    not_before_us     BIGINT NOT NULL,
    not_after_us      BIGINT NOT NULL,
    der               {blob} NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('good', 'revoked')),
    revoked_at_us     BIGINT NULL,
    reason            INTEGER NULL,
    invalidity_date   TEXT NULL,
    revocation_source TEXT NULL,
    created_us        BIGINT NOT NULL,
    CHECK ((status = 'revoked') = (revoked_at_us IS NOT NULL)),
    CHECK ((resident_key IS NULL) = (hmac_key_id IS NULL))
);

CREATE INDEX certificates_issuer_key ON certificates (issuer_key_id, not_after_us);
CREATE INDEX certificates_resident_key ON certificates (resident_key);

-- Every status change, in commit order (writers hold one lock, so change_seq order is commit
-- order): OCSP and CRL deltas read "changes after my mark".
CREATE TABLE status_changes (
    change_seq    {id},
    issuer_key_id TEXT NOT NULL REFERENCES issuer_keys (id),
    serial        TEXT NOT NULL REFERENCES certificates (serial),
    status        TEXT NOT NULL CHECK (status IN ('good', 'revoked')),
    reason        INTEGER NULL,
    time_us       BIGINT NOT NULL
);

CREATE INDEX status_changes_issuer_key ON status_changes (issuer_key_id, change_seq);

-- Hash-chained audit trail; details is canonical JSON (RFC 8785).
CREATE TABLE audit_log (
    seq       BIGINT PRIMARY KEY,
    time_us   BIGINT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    subject   TEXT NOT NULL,
    details   TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);

CREATE TABLE audit_checkpoints (
    seq       BIGINT PRIMARY KEY,
    hash      TEXT NOT NULL,
    time_us   BIGINT NOT NULL,
    key_id    TEXT NOT NULL,
    signature {blob} NOT NULL
);

-- The one row every writer locks; also the head of the audit chain.
CREATE TABLE chain_head (
    id                  INTEGER PRIMARY KEY CHECK (id = 1),
    seq                 BIGINT NOT NULL,
    hash                TEXT NOT NULL,
    last_checkpoint_seq BIGINT NOT NULL,
    last_checkpoint_us  BIGINT NOT NULL
);

INSERT INTO chain_head (id, seq, hash, last_checkpoint_seq, last_checkpoint_us)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000', 0, 0);
