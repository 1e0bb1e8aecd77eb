-- Migration: 003_add_user_phone.sql
-- Created: 2026-01-21
-- Description: Add phone column to users table

-- UP
ALTER TABLE users ADD COLUMN phone TEXT;

-- DOWN
ALTER TABLE users DROP COLUMN IF EXISTS phone;
