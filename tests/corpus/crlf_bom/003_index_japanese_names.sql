-- UP
CREATE INDEX CONCURRENTLY "café_日本語名_idx" ON café ("日本語名") WHERE "日本語名" IS NOT NULL;

-- DOWN
DROP INDEX CONCURRENTLY IF EXISTS "café_日本語名_idx";
