-- Migration: 005_add_generations_model_index.sql
-- Created: 2026-01-23
-- Description: Index generations by model without blocking writes

-- CREATE INDEX CONCURRENTLY cannot run inside a transaction: pgshift detects it and
-- runs this migration outside one.

-- UP
CREATE INDEX CONCURRENTLY idx_generations_model ON generations(model);

-- DOWN
DROP INDEX IF EXISTS idx_generations_model;
