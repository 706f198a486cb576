-- Before failed logins were tallied, session.failed recorded the userID as
-- the client typed it: perhaps a password typed into the wrong field, or
-- 64 KiB of junk. Such a row now names a registered user, a fingerprint
-- ("unknown:..."), or no one; the old rows that name anything else lose
-- their userID here, so GET /v1/audit never shows what someone typed.
UPDATE audit_events
SET user_id = ''
WHERE event = 'session.failed'
  AND user_id <> ''
  AND substr(user_id, 1, 8) <> 'unknown:'
  AND user_id NOT IN (SELECT id FROM users);
