-- Migration: 004_add_origine.sql
-- Description: Pays d'origine — BOM, CRLF, compact markers, no newline at the end of the file
--UP
ALTER TABLE café ADD COLUMN origine text NOT NULL DEFAULT 'Éthiopie';
COMMENT ON COLUMN café.origine IS 'Pays d''origine du grain (例: エチオピア)';
--DOWN
ALTER TABLE café DROP COLUMN IF EXISTS origine;