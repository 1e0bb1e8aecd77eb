-- Migration: 006_backfill_ci_pipelines_source.sql
-- Created: 2026-04-10
-- Description: Add ci_pipelines.source and backfill it, in a transaction this file controls

-- UP
BEGIN;

ALTER TABLE ci_pipelines ADD COLUMN source text;

UPDATE ci_pipelines SET source = CASE WHEN ref = 'main' THEN 'push' ELSE 'web' END;

ALTER TABLE ci_pipelines ALTER COLUMN source SET NOT NULL;
ALTER TABLE ci_pipelines ALTER COLUMN source SET DEFAULT 'push';

COMMIT;

-- DOWN
BEGIN;
ALTER TABLE ci_pipelines DROP COLUMN IF EXISTS source;
COMMIT;
