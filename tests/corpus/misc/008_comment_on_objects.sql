-- Migration: 008_comment_on_objects.sql
-- Created: 2026-06-10
-- Description: Document the schema in the catalog

-- UP
COMMENT ON SCHEMA reporting IS 'Read-only views for the dashboard';
COMMENT ON TABLE users IS 'People who can sign in';
COMMENT ON COLUMN users.full_name IS 'Generated from first_name and last_name';
COMMENT ON TABLE events IS 'Product analytics events, one partition per month';
COMMENT ON DOMAIN email_address IS 'Case-insensitive e-mail address';
COMMENT ON TYPE money_amount IS 'An amount with its ISO 4217 currency';
COMMENT ON SEQUENCE invoice_number_seq IS 'Invoice numbers are gapless per year in the ledger, not here';
COMMENT ON VIEW reporting.user_invoice_totals IS 'Invoice count and total per user';
COMMENT ON MATERIALIZED VIEW reporting.daily_invoice_totals IS 'Refreshed nightly';
COMMENT ON INDEX index_users_on_full_name_trigram IS 'Serves ILIKE ''%name%'' searches';
COMMENT ON POLICY documents_shared_read ON documents IS 'Shared documents are public';
COMMENT ON EXTENSION citext IS 'data type for case-insensitive character strings';

-- DOWN
COMMENT ON EXTENSION citext IS 'data type for case-insensitive character strings';
COMMENT ON POLICY documents_shared_read ON documents IS NULL;
COMMENT ON INDEX index_users_on_full_name_trigram IS NULL;
COMMENT ON MATERIALIZED VIEW reporting.daily_invoice_totals IS NULL;
COMMENT ON VIEW reporting.user_invoice_totals IS NULL;
COMMENT ON SEQUENCE invoice_number_seq IS NULL;
COMMENT ON TYPE money_amount IS NULL;
COMMENT ON DOMAIN email_address IS NULL;
COMMENT ON TABLE events IS NULL;
COMMENT ON COLUMN users.full_name IS NULL;
COMMENT ON TABLE users IS NULL;
COMMENT ON SCHEMA reporting IS NULL;
