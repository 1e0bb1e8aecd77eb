-- Migration: 004_reindex_ci_builds_on_status.sql
-- Created: 2026-04-06
-- Description: Rebuild the bloated status index online

-- UP
REINDEX INDEX CONCURRENTLY index_ci_builds_on_status;

-- DOWN
-- A rebuilt index has the same definition: there is no schema change to revert,
-- so the rollback just rebuilds it again.
REINDEX INDEX CONCURRENTLY index_ci_builds_on_status;
