-- Migration: 005_create_reporting_views.sql
-- Created: 2026-06-05
-- Description: Reporting schema with a view and a materialized view

-- UP
CREATE SCHEMA IF NOT EXISTS reporting;

CREATE VIEW reporting.user_invoice_totals AS
SELECT u.id AS user_id, u.full_name, count(i.id) AS invoices, coalesce(sum(i.total), 0) AS total
  FROM users u
  LEFT JOIN invoices i ON i.user_id = u.id
 GROUP BY u.id, u.full_name;

CREATE MATERIALIZED VIEW reporting.daily_invoice_totals AS
SELECT i.issued_on, count(*) AS invoices, sum(i.total) AS total
  FROM invoices i
 GROUP BY i.issued_on
WITH NO DATA;

-- REFRESH ... CONCURRENTLY needs a unique index.
CREATE UNIQUE INDEX index_daily_invoice_totals_on_issued_on
    ON reporting.daily_invoice_totals (issued_on);

REFRESH MATERIALIZED VIEW reporting.daily_invoice_totals;

CREATE FUNCTION reporting.refresh_daily_invoice_totals() RETURNS void
    LANGUAGE sql
    SECURITY DEFINER
    SET search_path = pg_catalog, public
AS $$
    REFRESH MATERIALIZED VIEW CONCURRENTLY reporting.daily_invoice_totals;
$$;

-- DOWN
DROP FUNCTION IF EXISTS reporting.refresh_daily_invoice_totals();
DROP MATERIALIZED VIEW IF EXISTS reporting.daily_invoice_totals;
DROP VIEW IF EXISTS reporting.user_invoice_totals;
DROP SCHEMA IF EXISTS reporting;
