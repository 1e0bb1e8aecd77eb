-- Migration: 005_add_merge_requests_unique_iid.sql
-- Created: 2026-04-08
-- Description: Unique (target_project_id, iid), built online, then attached as a constraint

-- Mixes ordinary DDL with CREATE INDEX CONCURRENTLY: the whole file runs outside a
-- transaction, statement by statement.

-- UP
ALTER TABLE merge_requests ADD COLUMN merge_status text NOT NULL DEFAULT 'unchecked';

CREATE UNIQUE INDEX CONCURRENTLY index_merge_requests_on_target_project_id_and_iid
    ON merge_requests (target_project_id, iid);

ALTER TABLE merge_requests
    ADD CONSTRAINT merge_requests_target_project_id_iid_key
    UNIQUE USING INDEX index_merge_requests_on_target_project_id_and_iid;

COMMENT ON COLUMN merge_requests.merge_status IS 'unchecked, checking, can_be_merged, cannot_be_merged';

-- DOWN
ALTER TABLE merge_requests DROP CONSTRAINT IF EXISTS merge_requests_target_project_id_iid_key;
ALTER TABLE merge_requests DROP COLUMN IF EXISTS merge_status;
