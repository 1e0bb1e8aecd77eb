-- Migration: 004_create_partitioned_events.sql
-- Created: 2026-06-04
-- Description: Events partitioned by month, with a default partition and a parent index

-- UP
CREATE TABLE events (
    id bigint GENERATED ALWAYS AS IDENTITY,
    user_id bigint REFERENCES users(id) ON DELETE SET NULL,
    name text NOT NULL,
    properties jsonb NOT NULL DEFAULT '{}',
    occurred_at timestamptz NOT NULL,
    PRIMARY KEY (id, occurred_at)
) PARTITION BY RANGE (occurred_at);

CREATE TABLE events_2026_01 PARTITION OF events
    FOR VALUES FROM ('2026-01-01 00:00:00+00') TO ('2026-02-01 00:00:00+00');
CREATE TABLE events_2026_02 PARTITION OF events
    FOR VALUES FROM ('2026-02-01 00:00:00+00') TO ('2026-03-01 00:00:00+00');
CREATE TABLE events_default PARTITION OF events DEFAULT;

CREATE INDEX index_events_on_name_and_occurred_at ON events (name, occurred_at);

INSERT INTO events (name, occurred_at) VALUES
    ('signed_in', '2026-01-15 09:00:00+00'),
    ('signed_in', '2026-02-15 09:00:00+00'),
    ('signed_in', '2030-01-01 09:00:00+00');

-- DOWN
DROP TABLE IF EXISTS events;
