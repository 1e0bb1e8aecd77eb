-- Migration: 007_add_generations_workspace_fk.sql
-- Created: 2026-01-25
-- Description: Link generations to workspaces; deleting a workspace keeps its generations

-- UP
ALTER TABLE generations 
ADD CONSTRAINT fk_generations_workspace 
FOREIGN KEY (workspace_id) REFERENCES workspaces(id) ON DELETE SET NULL;

-- DOWN
ALTER TABLE generations DROP CONSTRAINT IF EXISTS fk_generations_workspace;
