-- identities maps a subject of an external identity provider to the userID
-- it was given the first time it was seen, as in sqlite/0003_identities.sql.
CREATE TABLE identities (
	issuer     TEXT COLLATE "C" NOT NULL,
	subject    TEXT COLLATE "C" NOT NULL,
	user_id    TEXT COLLATE "C" NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (issuer, subject)
);
