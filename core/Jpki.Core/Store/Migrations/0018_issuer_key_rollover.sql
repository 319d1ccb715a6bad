-- step: expand
-- Issue 17: issuer key rollover (docs/rollover.md, docs/decisions/0400-issuer-key-rollover.md).
-- A generation N+1 is made while N still signs; new issuance switches to N+1 at a time fixed by
-- the officers, at least rollover.leadDays after N+1's root and fingerprint were published.
--
-- issuer_keys.issues_from_us: from when the key signs new end-entity certificates (NULL: not
-- yet). The issuing key of an issuer at instant T is its active key with the greatest
-- issues_from_us <= T. Generations made by the first ceremony issue from their root's notBefore.
-- issuer_keys.published_us: when the root and its SHA-256 fingerprint were published (files under
-- certs/ and GET /api/v1/issuers/{id}/generations/{n}); the first ceremony's roots at creation.
ALTER TABLE issuer_keys ADD COLUMN issues_from_us BIGINT NULL;
ALTER TABLE issuer_keys ADD COLUMN published_us BIGINT NULL;
UPDATE issuer_keys SET issues_from_us = not_before_us, published_us = created_us WHERE certificate_der IS NOT NULL;

-- The RFC 4210 §4.4 link certificates between two generations of one issuer (JPKI-PROFILE.md
-- §10). Each is also a row of certificates (serial unique across the install, status, ARL of the
-- key that signed it; kind 'root' there means "a CA certificate of this issuer": see decision 0401).
-- direction 'new-with-old': subject_key_id's public key, signed by issuer_key_id (the older);
-- 'old-with-new': the older key's public key, signed by the newer.
CREATE TABLE link_certificates (
    serial         TEXT PRIMARY KEY REFERENCES certificates (serial),
    issuer_id      TEXT NOT NULL REFERENCES issuers (id),
    direction      TEXT NOT NULL CHECK (direction IN ('new-with-old', 'old-with-new')),
    signer_key_id  TEXT NOT NULL REFERENCES issuer_keys (id),
    subject_key_id TEXT NOT NULL REFERENCES issuer_keys (id),
    created_us     BIGINT NOT NULL,
    CHECK (signer_key_id <> subject_key_id),
    UNIQUE (signer_key_id, subject_key_id)
);

-- One rollover per new generation. state 'in-progress' until the switch is recorded; step names
-- the last step done (started, key, root, published, links, responder, switch). At most one
-- rollover of an issuer is in progress.
CREATE TABLE issuer_rollovers (
    to_key_id    TEXT PRIMARY KEY,
    issuer_id    TEXT NOT NULL REFERENCES issuers (id),
    from_key_id  TEXT NOT NULL REFERENCES issuer_keys (id),
    generation   INTEGER NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('in-progress', 'complete')),
    step         TEXT NOT NULL,
    switch_at_us BIGINT NULL,
    actor        TEXT NOT NULL,
    started_us   BIGINT NOT NULL,
    completed_us BIGINT NULL,
    CHECK ((state = 'complete') = (completed_us IS NOT NULL)),
    UNIQUE (issuer_id, generation)
);

CREATE UNIQUE INDEX issuer_rollovers_one_open ON issuer_rollovers (issuer_id) WHERE state = 'in-progress';
