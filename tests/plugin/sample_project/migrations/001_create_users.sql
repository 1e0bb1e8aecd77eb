-- Migration: 001_create_users.sql
-- Description: users of the application

-- UP
CREATE TABLE users (
    id bigserial PRIMARY KEY,
    email text NOT NULL UNIQUE
);

-- DOWN
DROP TABLE users;
