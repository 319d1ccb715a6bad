-- step: expand
-- Rolling upgrades (issue 18, docs/decisions/0530): every running service instance registers
-- here with the schema version its code was built for (the highest migration it carries) and
-- heartbeats its row every 10 s; a clean stop deletes it. The migrator refuses a contracting step
-- while a row of older code was seen within the staleness limit (30 s). Operational, like
-- ocsp_queries: not hashed into the audit chain (a row changes every 10 s per instance).
CREATE TABLE store_clients (
    instance_id         TEXT PRIMARY KEY,
    service             TEXT NOT NULL,
    code_schema_version BIGINT NOT NULL,
    host                TEXT NOT NULL,
    pid                 BIGINT NOT NULL,
    started_us          BIGINT NOT NULL,
    last_seen_us        BIGINT NOT NULL
);
