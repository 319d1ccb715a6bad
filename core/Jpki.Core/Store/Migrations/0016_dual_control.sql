-- step: expand
-- Trust controls (issue 16): API tokens that expire, password logins throttled rather than
-- locked, one-time activation of accounts whose credentials no officer may see, and
-- multi-person approval of everything that grants power.

-- NULL: a token made before expiry existed; it expires at its next rotation.
ALTER TABLE accounts ADD COLUMN token_expires_us BIGINT NULL;
-- Growing delays after wrong passwords: no password is tried for this account before this instant.
ALTER TABLE accounts ADD COLUMN next_login_us BIGINT NULL;
-- An account waiting for its holder: the SHA-256 of its activation code (both officers' parts
-- for an account created under dual control) and until when it may be used.
ALTER TABLE accounts ADD COLUMN activation_sha256 TEXT NULL;
ALTER TABLE accounts ADD COLUMN activation_expires_us BIGINT NULL;

-- A request of one officer that takes effect only on approval by a different, already existing
-- officer within its window (docs/access-control.md has the table of actions).
CREATE TABLE approval_requests (
    id           {id},
    action       TEXT NOT NULL,
    subject      TEXT NOT NULL,
    payload      TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    requested_us BIGINT NOT NULL,
    expires_us   BIGINT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'rejected')),
    decided_by   TEXT NULL,
    decided_us   BIGINT NULL,
    CHECK (decided_by IS NULL OR state = 'rejected' OR decided_by <> requested_by)
);

CREATE INDEX approval_requests_pending ON approval_requests (state, expires_us);

-- Who brought an account to power (created or enabled it as officer or auditor, or changed its
-- role): the requesting and the approving officer. Officers related this way may not approve
-- each other's requests, so that one person holding two accounts cannot stand for two officers.
CREATE TABLE account_grants (
    account      TEXT NOT NULL,
    action       TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    approved_by  TEXT NULL,
    time_us      BIGINT NOT NULL
);

CREATE INDEX account_grants_account ON account_grants (account);
CREATE INDEX account_grants_requested_by ON account_grants (requested_by);
CREATE INDEX account_grants_approved_by ON account_grants (approved_by);

-- How this install was set up: 'demo' (./jpki up: the built-in accounts' credentials are files
-- under secrets/) or 'production' (./jpki hsm init --production: no officer or auditor
-- credential ever written to disk). Written once, by the first start or the ceremony.
CREATE TABLE install_settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
