-- Migration: 003_replace_ci_builds_project_index.sql
-- Created: 2026-04-03
-- Description: Replace the project_id index with one on (project_id, status) that also serves it

-- UP
CREATE INDEX CONCURRENTLY index_ci_builds_on_project_id_and_status
    ON ci_builds (project_id, status);

DROP INDEX CONCURRENTLY IF EXISTS index_ci_builds_on_project_id;

-- DOWN
CREATE INDEX CONCURRENTLY index_ci_builds_on_project_id ON ci_builds (project_id);

DROP INDEX CONCURRENTLY IF EXISTS index_ci_builds_on_project_id_and_status;
