-- Migration: 006_enable_row_level_security.sql
-- Created: 2026-06-08
-- Description: Documents are visible to their owner, shared ones to everybody

-- The application sets app.current_user_id per request (SET LOCAL).

-- UP
ALTER TABLE documents ENABLE ROW LEVEL SECURITY;

CREATE POLICY documents_owner_all ON documents
    FOR ALL
    USING (owner_id = nullif(current_setting('app.current_user_id', true), '')::bigint)
    WITH CHECK (owner_id = nullif(current_setting('app.current_user_id', true), '')::bigint);

CREATE POLICY documents_shared_read ON documents
    FOR SELECT
    USING (shared);

-- DOWN
DROP POLICY IF EXISTS documents_shared_read ON documents;
DROP POLICY IF EXISTS documents_owner_all ON documents;
ALTER TABLE documents DISABLE ROW LEVEL SECURITY;
