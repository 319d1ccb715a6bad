-- step: expand
-- Revocation: the cause of each revocation, the Juki-Net feed's records (events, cursor, gaps,
-- quarantine), manual revocation requests, kill switches and issuer-key compromise approvals.

-- Which rule of the table (RevocationRules) revoked the certificate, e.g. 'moveOut'.
ALTER TABLE certificates ADD COLUMN revocation_cause TEXT NULL;

-- Every feed event the CA received, once (sequence is the feed's global one, so a duplicate
-- delivery finds its row and changes nothing). resident_key is the keyed hash of the code,
-- never the code. outcome: what applying it did.
CREATE TABLE jukinet_events (
    sequence       BIGINT PRIMARY KEY,
    type           TEXT NOT NULL,
    cause          TEXT NOT NULL,
    resident_key   {blob} NOT NULL,
    hmac_key_id    TEXT NOT NULL,
    effective_date TEXT NOT NULL,
    received_us    BIGINT NOT NULL,
    applied_us     BIGINT NOT NULL,
    outcome        TEXT NOT NULL CHECK (outcome IN ('revoked', 'no-effect', 'unknown-resident')),
    revoked_count  INTEGER NOT NULL
);

CREATE INDEX jukinet_events_resident ON jukinet_events (resident_key, sequence);

-- Feed entries that were not valid events: the raw JSON with every resident code replaced by
-- its keyed hash, why it was refused, and an officer's resolution.
CREATE TABLE jukinet_quarantine (
    id            {id},
    sequence      BIGINT NULL,
    reason        TEXT NOT NULL,
    redacted_json TEXT NOT NULL,
    received_us   BIGINT NOT NULL,
    resolved_us   BIGINT NULL,
    resolved_by   TEXT NULL,
    resolution    TEXT NULL
);

-- The subscriber's position. Every sequence <= cursor was received, or lies in a gap.
-- feed_last: the feed's newest sequence at the last poll (lag = feed_last - cursor).
CREATE TABLE jukinet_feed (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    cursor        BIGINT NOT NULL,
    feed_last     BIGINT NOT NULL,
    last_event_us BIGINT NULL
);

INSERT INTO jukinet_feed (id, cursor, feed_last, last_event_us) VALUES (1, 0, 0, NULL);

-- Sequences the feed skipped, as ranges. A late event shrinks or splits its range; an officer
-- may close a range with a recorded reason. Alarmed once open longer than the configured time.
CREATE TABLE jukinet_gaps (
    id             {id},
    first_sequence BIGINT NOT NULL,
    last_sequence  BIGINT NOT NULL,
    opened_us      BIGINT NOT NULL,
    alarmed_us     BIGINT NULL,
    closed_us      BIGINT NULL,
    closed_by      TEXT NULL,
    close_reason   TEXT NULL,
    CHECK (first_sequence <= last_sequence)
);

CREATE INDEX jukinet_gaps_range ON jukinet_gaps (first_sequence, last_sequence);

-- Revocations asked for by people (window, officer) or by the CA itself (delivery sweeper).
-- certificates.revocation_source is 'request:<id>' for these, 'jukinet:<sequence>' for events.
CREATE TABLE revocation_requests (
    id           {id},
    serial       TEXT NULL REFERENCES certificates (serial),
    cause        TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    statement    TEXT NOT NULL,
    time_us      BIGINT NOT NULL
);

-- Officers' stop switches: 'feed' stops applying the Juki-Net feed, 'issuance' stops issuing.
CREATE TABLE kill_switches (
    name       TEXT PRIMARY KEY CHECK (name IN ('feed', 'issuance')),
    stopped    INTEGER NOT NULL,
    changed_by TEXT NOT NULL,
    reason     TEXT NOT NULL,
    changed_us BIGINT NOT NULL
);

-- Revoking every certificate of an issuer key needs two different officers: the first asks,
-- a second approves before expires_us.
CREATE TABLE issuer_compromise_requests (
    id            {id},
    issuer_key_id TEXT NOT NULL REFERENCES issuer_keys (id),
    requested_by  TEXT NOT NULL,
    statement     TEXT NOT NULL,
    requested_us  BIGINT NOT NULL,
    expires_us    BIGINT NOT NULL,
    approved_by   TEXT NULL,
    approved_us   BIGINT NULL,
    CHECK (approved_by IS NULL OR approved_by <> requested_by)
);
