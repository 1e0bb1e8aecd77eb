-- Migration: 007_detach_audit_events_2025.sql
-- Created: 2026-04-13
-- Description: Detach last year's audit partition online so it can be archived

-- UP
ALTER TABLE audit_events DETACH PARTITION audit_events_2025 CONCURRENTLY;

-- DOWN
-- DETACH ... CONCURRENTLY left a CHECK constraint matching the partition bounds behind;
-- it lets ATTACH skip the validation scan, and is dropped once the partition is back.
ALTER TABLE audit_events ATTACH PARTITION audit_events_2025
    FOR VALUES FROM ('2025-01-01 00:00:00+00') TO ('2026-01-01 00:00:00+00');
ALTER TABLE audit_events_2025 DROP CONSTRAINT IF EXISTS audit_events_2025_created_at_check;
