-- identities maps a subject of an external identity provider to the userID
-- it was given the first time it was seen, so the same subject always gets
-- the same user, whatever later changes to the mapping rules. There is no
-- foreign key to users: a deleted and re-created user keeps its subject.
CREATE TABLE identities (
	issuer     TEXT   NOT NULL,
	subject    TEXT   NOT NULL,
	user_id    TEXT   NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (issuer, subject)
);
