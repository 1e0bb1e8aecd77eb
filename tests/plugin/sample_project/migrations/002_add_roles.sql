-- Migration: 002_add_roles.sql
-- Description: roles, with the two every installation starts with

-- UP
CREATE TABLE roles (name text PRIMARY KEY);
INSERT INTO roles (name) VALUES ('admin'), ('member');
ALTER TABLE users ADD COLUMN role text NOT NULL DEFAULT 'member' REFERENCES roles;

-- DOWN
ALTER TABLE users DROP COLUMN role;
DROP TABLE roles;
