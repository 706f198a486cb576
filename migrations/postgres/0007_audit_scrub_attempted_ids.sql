-- As in sqlite/0007_audit_scrub_attempted_ids.sql: session.failed rows that
-- name neither a registered user nor a fingerprint lose their userID.
UPDATE audit_events
SET user_id = ''
WHERE event = 'session.failed'
  AND user_id <> ''
  AND substr(user_id, 1, 8) <> 'unknown:'
  AND user_id NOT IN (SELECT id FROM users);
