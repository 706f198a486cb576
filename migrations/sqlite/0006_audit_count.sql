-- count is how many times a tallied event happened in its row (1 for an
-- event recorded once). Until now a tally kept it in the reason, as
-- "reason;count=N" with N > 1; those rows are split here. Reasons are fixed
-- strings that never contain ";count=", so the first one found is the mark.
ALTER TABLE audit_events ADD COLUMN count BIGINT NOT NULL DEFAULT 1;

UPDATE audit_events
SET count  = CAST(substr(reason, instr(reason, ';count=') + 7) AS INTEGER),
    reason = substr(reason, 1, instr(reason, ';count=') - 1)
WHERE instr(reason, ';count=') > 0
  AND substr(reason, instr(reason, ';count=') + 7) <> ''
  AND substr(reason, instr(reason, ';count=') + 7) NOT GLOB '*[^0-9]*'
  AND length(substr(reason, instr(reason, ';count=') + 7)) <= 18
  AND CAST(substr(reason, instr(reason, ';count=') + 7) AS INTEGER) > 1;
