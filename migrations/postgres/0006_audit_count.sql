-- count is how many times a tallied event happened in its row, as in
-- sqlite/0006_audit_count.sql. The split of old "reason;count=N" rows
-- there has nothing to do here: no PostgreSQL database predates this
-- column. It is kept so both dialects reach the same state from any data.
ALTER TABLE audit_events ADD COLUMN count BIGINT NOT NULL DEFAULT 1;

UPDATE audit_events
SET count  = CAST(substr(reason, strpos(reason, ';count=') + 7) AS BIGINT),
    reason = substr(reason, 1, strpos(reason, ';count=') - 1)
WHERE strpos(reason, ';count=') > 0
  AND substr(reason, strpos(reason, ';count=') + 7) ~ '^[0-9]{1,18}$'
  AND CAST(substr(reason, strpos(reason, ';count=') + 7) AS BIGINT) > 1;
