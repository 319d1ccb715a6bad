-- step: expand
-- Issue 17: a compromised audit-checkpoint key is handed over to a new key by one checkpoint
-- signed by both (docs/runbooks/audit-checkpoint-key-compromise.md). audit_checkpoints keeps the
-- first signature (the old key's); the new key's signature over the same statement is a row here.
-- No foreign key: the verifier, not the schema, names a cosignature whose checkpoint is gone.
CREATE TABLE audit_checkpoint_cosignatures (
    seq       BIGINT NOT NULL,
    key_id    TEXT NOT NULL,
    signature {blob} NOT NULL,
    PRIMARY KEY (seq, key_id)
);
