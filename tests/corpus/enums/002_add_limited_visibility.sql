-- Migration: 002_add_limited_visibility.sql
-- Created: 2026-03-05
-- Description: Add the 'limited' visibility (between private and direct)

-- ALTER TYPE ... ADD VALUE gets a file of its own: the new value cannot be used in the
-- transaction that adds it. 003 is the first migration that uses it.

-- UP
ALTER TYPE status_visibility ADD VALUE IF NOT EXISTS 'limited' AFTER 'private';

-- DOWN
-- PostgreSQL cannot drop an enum value: rebuild the type without it and swap it in.
UPDATE statuses SET visibility = 'private' WHERE visibility = 'limited';

ALTER TYPE status_visibility RENAME TO status_visibility_old;
CREATE TYPE status_visibility AS ENUM ('public', 'unlisted', 'private', 'direct');

ALTER TABLE statuses ALTER COLUMN visibility DROP DEFAULT;
ALTER TABLE statuses
    ALTER COLUMN visibility TYPE status_visibility
    USING visibility::text::status_visibility;
ALTER TABLE statuses ALTER COLUMN visibility SET DEFAULT 'public';

DROP TYPE status_visibility_old;
