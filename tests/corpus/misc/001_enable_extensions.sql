-- Migration: 001_enable_extensions.sql
-- Created: 2026-06-01
-- Description: citext for case-insensitive emails, pg_trgm for fuzzy search

-- Both ship with PostgreSQL (contrib) and are trusted extensions.

-- UP
CREATE EXTENSION IF NOT EXISTS citext;
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- DOWN
DROP EXTENSION IF EXISTS pg_trgm;
DROP EXTENSION IF EXISTS citext;
