-- step: expand
-- Keys of the install that are not issuer keys: the audit-checkpoint key (with its
-- self-signed certificate, for outside auditors) and the versioned resident-code HMAC key
-- (certificates.hmac_key_id names one of these; losing it would make every resident's
-- certificates unfindable, so it is never deleted, only retired).
CREATE TABLE install_keys (
    id              TEXT PRIMARY KEY,
    purpose         TEXT NOT NULL CHECK (purpose IN ('audit-checkpoint', 'resident-hmac')),
    hsm_key_label   TEXT NOT NULL,
    certificate_der {blob} NULL,
    state           TEXT NOT NULL CHECK (state IN ('active', 'retired')),
    created_us      BIGINT NOT NULL
);

-- Delegated OCSP responder certificates (also rows of certificates), one active per issuer
-- key; the OCSP service signs with hsm_key_label and includes the certificate.
CREATE TABLE ocsp_responders (
    serial        TEXT PRIMARY KEY REFERENCES certificates (serial),
    issuer_key_id TEXT NOT NULL REFERENCES issuer_keys (id),
    hsm_key_label TEXT NOT NULL,
    not_after_us  BIGINT NOT NULL,
    created_us    BIGINT NOT NULL
);

CREATE INDEX ocsp_responders_issuer_key ON ocsp_responders (issuer_key_id, not_after_us);
