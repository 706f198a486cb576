-- readiness holds one row that the readiness probe rewrites, so /readyz
-- proves that a write commits (disk not full, file not read-only), not
-- only that a connection answers.
CREATE TABLE readiness (
	id     INTEGER PRIMARY KEY CHECK (id = 1),
	probes BIGINT  NOT NULL
);
