-- step: expand
-- Issue 21: the auditors' trail measured revocation → first OCSP 'revoked' answer from the
-- answer's producedAt, which the answer encodes in whole seconds (GeneralizedTime without a
-- fraction), so a revocation answered within the same second showed a latency down to −1 s.
-- signed_us is the instant the responder signed that answer, in microseconds like the
-- revocation's own instant; produced_us stays the encoded producedAt. Null on rows recorded
-- before this migration (the trail then falls back to produced_us).
ALTER TABLE ocsp_first_revoked ADD COLUMN signed_us BIGINT NULL;
