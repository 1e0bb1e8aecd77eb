-- Migration: 003_use_limited_visibility.sql
-- Created: 2026-03-06
-- Description: Index limited statuses, a timeline view, and the first limited status

-- UP
CREATE INDEX index_statuses_limited ON statuses (account_id, created_at DESC)
    WHERE visibility = 'limited';

ALTER TABLE statuses
    ADD CONSTRAINT check_statuses_limited_not_sensitive
    CHECK (visibility <> 'limited' OR NOT sensitive);

CREATE VIEW public_timeline AS
SELECT s.id, s.account_id, a.username, s.text, s.visibility, s.created_at
  FROM statuses s
  JOIN accounts a ON a.id = s.account_id
 WHERE s.visibility IN ('public', 'unlisted')
   AND s.in_reply_to_id IS NULL;

INSERT INTO statuses (account_id, text, visibility)
SELECT id, 'Only for my circle', 'limited'::status_visibility FROM accounts WHERE username = 'admin';

-- DOWN
DELETE FROM statuses WHERE visibility = 'limited' AND text = 'Only for my circle';
DROP VIEW IF EXISTS public_timeline;
ALTER TABLE statuses DROP CONSTRAINT IF EXISTS check_statuses_limited_not_sensitive;
DROP INDEX IF EXISTS index_statuses_limited;
