-- Migration: 006_widen_user_credits.sql
-- Created: 2026-01-24
-- Description: Widen users.credits from DECIMAL(18,8) to DECIMAL(20,8)
-- Narrowing it again in DOWN rewrites users; accepted as the price of a rollback:
-- pgshift: allow column-type-change

-- UP
ALTER TABLE users ALTER COLUMN credits TYPE DECIMAL(20,8);

-- DOWN
ALTER TABLE users ALTER COLUMN credits TYPE DECIMAL(18,8);
