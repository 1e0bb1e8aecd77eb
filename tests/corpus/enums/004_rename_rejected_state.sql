-- Migration: 004_rename_rejected_state.sql
-- Created: 2026-03-09
-- Description: Rename moderation state 'rejected' to 'dismissed'; add 'escalated' before it

-- UP
ALTER TYPE moderation_state RENAME VALUE 'rejected' TO 'dismissed';
ALTER TYPE moderation_state ADD VALUE 'escalated' BEFORE 'dismissed';

-- DOWN
UPDATE reports SET state = 'pending' WHERE state = 'escalated';

ALTER TYPE moderation_state RENAME TO moderation_state_old;
CREATE TYPE moderation_state AS ENUM ('pending', 'approved', 'rejected');

ALTER TABLE reports ALTER COLUMN state DROP DEFAULT;
ALTER TABLE reports
    ALTER COLUMN state TYPE moderation_state
    USING (CASE state::text WHEN 'dismissed' THEN 'rejected' ELSE state::text END)::moderation_state;
ALTER TABLE reports ALTER COLUMN state SET DEFAULT 'pending';

DROP TYPE moderation_state_old;
