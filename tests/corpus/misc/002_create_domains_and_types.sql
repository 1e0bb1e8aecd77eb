-- Migration: 002_create_domains_and_types.sql
-- Created: 2026-06-02
-- Description: Domains for emails and amounts; a composite money type

-- UP
CREATE DOMAIN email_address AS citext
    CHECK (VALUE ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$');

CREATE DOMAIN positive_amount AS numeric(12, 2)
    NOT NULL
    CHECK (VALUE > 0);

CREATE TYPE money_amount AS (
    amount numeric(12, 2),
    currency char(3)
);

-- DOWN
DROP TYPE IF EXISTS money_amount;
DROP DOMAIN IF EXISTS positive_amount;
DROP DOMAIN IF EXISTS email_address;
