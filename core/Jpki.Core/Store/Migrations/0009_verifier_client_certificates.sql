-- step: expand
-- Client certificates of verifier accounts (DESIGN.md §6: OCSP and CRL listeners accept a
-- verifier's client certificate over mutual TLS). A certificate is registered by an officer and
-- recognised by the SHA-256 of its DER; it grants access while the account is an enabled
-- verifier and the certificate is within its validity (the TLS handshake proves the key).
CREATE TABLE verifier_client_certificates (
    sha256     TEXT PRIMARY KEY,
    account    TEXT NOT NULL REFERENCES accounts (id),
    subject    TEXT NOT NULL,
    not_before_us BIGINT NOT NULL,
    not_after_us  BIGINT NOT NULL,
    created_us BIGINT NOT NULL
);

CREATE INDEX verifier_client_certificates_account ON verifier_client_certificates (account);
