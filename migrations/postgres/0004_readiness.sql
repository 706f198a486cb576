-- readiness holds one row that the readiness probe rewrites, so /readyz
-- proves that a write commits, not only that a connection answers.
CREATE TABLE readiness (
	id     INTEGER PRIMARY KEY CHECK (id = 1),
	probes BIGINT  NOT NULL
);
