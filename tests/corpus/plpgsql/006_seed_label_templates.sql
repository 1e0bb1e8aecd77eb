-- Migration: 006_seed_label_templates.sql
-- Created: 2026-02-12
-- Description: Default label templates, the ghost user and a higher projects limit

-- UP

/*
 * Seeding rules for this file:
-- DOWN
 *   deletes exactly the rows inserted here, by their natural keys;
 *   settings go back to the values 001 created.
 */

INSERT INTO label_templates (title, color, description) VALUES
    ('Download', '#428BCA', 'Problems downloading artifacts or packages'),
    ('Upload', '#5843AD', 'Problems uploading; see also Download'),
    ('UP', '#F0AD4E', 'Upstream: waiting on a dependency'),
    ('Down', '#D9534F', 'Service is down -- page the on-call engineer');

INSERT INTO label_templates (title, color, description) VALUES (
    'database::migration',
    '#5CB85C',
    'Changes a migration file. Every file has two sections:
-- UP
-- DOWN
and the DOWN section must undo the UP section; check with a rollback.'
);

INSERT INTO label_templates (title, color, description) VALUES (
    'escapes',
    '#777777',
    E'It\'s tab\tseparated;\nsecond line with a backslash \\ and a quote \'\n-- DOWN\n'
);

-- Update users
INSERT INTO users (username, email, state) VALUES ('ghost', 'ghost@example.com', 'blocked');

--  up the limit
UPDATE application_settings
   SET default_projects_limit = 100000,
       after_sign_up_text = 'Welcome; read the docs at /help -- or ask in #support'
 WHERE id = 1;

-- DOWN
UPDATE application_settings
   SET default_projects_limit = 10,
       after_sign_up_text = NULL
 WHERE id = 1;

DELETE FROM users WHERE username = 'ghost';

DELETE FROM label_templates
 WHERE title IN ('Download', 'Upload', 'UP', 'Down', 'database::migration', 'escapes');
