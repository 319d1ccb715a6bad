-- step: expand
-- Issue 16, finding 5: every signature accounted for. Before a certificate is signed (resident
-- certificates, responder renewals, the ceremony's roots, responders and checkpoint-key
-- certificate) its intent is written here, in the transaction of its 'signature.intended' audit
-- record: the serial, the key that signs, the SHA-256 of the exact TBSCertificate bytes handed to
-- the HSM, the purpose (the certificate kind), when and by whom. After signing, the intent is
-- completed in one transaction with either the certificate row ('certified': certificates, or
-- install_keys for the checkpoint key, hold a certificate whose TBS hashes to tbs_sha256) or a
-- 'signature.discarded' audit record naming the reason ('discarded').
-- `./jpki audit signatures` reports every intended record with neither.
CREATE TABLE signature_intents (
    serial        TEXT PRIMARY KEY CHECK (serial = lower(serial)),
    purpose       TEXT NOT NULL CHECK (purpose IN ('root', 'ocsp-responder', 'audit-checkpoint', 'signing', 'authentication')),
    issuer_key_id TEXT NOT NULL,
    tbs_sha256    TEXT NOT NULL CHECK (length(tbs_sha256) = 64),
    not_after_us  BIGINT NOT NULL,
    actor         TEXT NOT NULL,
    intended_us   BIGINT NOT NULL,
    audit_seq     BIGINT NOT NULL,
    outcome       TEXT NULL CHECK (outcome IN ('certified', 'discarded')),
    reason        TEXT NULL,
    completed_us  BIGINT NULL,
    CHECK ((outcome IS NULL) = (completed_us IS NULL)),
    CHECK ((outcome = 'discarded') = (reason IS NOT NULL))
);

-- The open intents (outcome NULL) by age, for the check's grace period.
CREATE INDEX signature_intents_open ON signature_intents (outcome, intended_us);
