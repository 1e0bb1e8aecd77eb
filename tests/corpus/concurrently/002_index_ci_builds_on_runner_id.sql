-- Migration: 002_index_ci_builds_on_runner_id.sql
-- Created: 2026-04-02
-- Description: Index builds by runner without locking out writers

-- UP
CREATE INDEX CONCURRENTLY IF NOT EXISTS index_ci_builds_on_runner_id
    ON ci_builds (runner_id)
    WHERE runner_id IS NOT NULL;

-- DOWN
DROP INDEX CONCURRENTLY IF EXISTS index_ci_builds_on_runner_id;
