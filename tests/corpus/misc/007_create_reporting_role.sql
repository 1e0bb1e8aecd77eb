-- Migration: 007_create_reporting_role.sql
-- Created: 2026-06-09
-- Description: Read-only role for the reporting dashboard

-- Roles belong to the whole cluster, so the role may already exist (another database
-- of the same server created it): create it only when it is missing.

-- UP
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pgshift_corpus_reporting') THEN
        CREATE ROLE pgshift_corpus_reporting NOLOGIN;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA reporting TO pgshift_corpus_reporting;
GRANT SELECT ON ALL TABLES IN SCHEMA reporting TO pgshift_corpus_reporting;
GRANT SELECT (id, full_name, created_at) ON users TO pgshift_corpus_reporting;
GRANT SELECT ON invoices TO pgshift_corpus_reporting;
REVOKE EXECUTE ON FUNCTION reporting.refresh_daily_invoice_totals() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION reporting.refresh_daily_invoice_totals() TO pgshift_corpus_reporting;
ALTER DEFAULT PRIVILEGES IN SCHEMA reporting GRANT SELECT ON TABLES TO pgshift_corpus_reporting;

-- DOWN
ALTER DEFAULT PRIVILEGES IN SCHEMA reporting REVOKE SELECT ON TABLES FROM pgshift_corpus_reporting;
REVOKE EXECUTE ON FUNCTION reporting.refresh_daily_invoice_totals() FROM pgshift_corpus_reporting;
GRANT EXECUTE ON FUNCTION reporting.refresh_daily_invoice_totals() TO PUBLIC;
REVOKE ALL ON invoices FROM pgshift_corpus_reporting;
REVOKE ALL (id, full_name, created_at) ON users FROM pgshift_corpus_reporting;
REVOKE ALL ON ALL TABLES IN SCHEMA reporting FROM pgshift_corpus_reporting;
REVOKE ALL ON SCHEMA reporting FROM pgshift_corpus_reporting;
DROP ROLE IF EXISTS pgshift_corpus_reporting;
