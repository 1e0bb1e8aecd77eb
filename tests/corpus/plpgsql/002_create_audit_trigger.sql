-- Migration: 002_create_audit_trigger.sql
-- Created: 2026-02-03
-- Description: Row-level audit log and updated_at maintenance on users, projects and issues

-- UP
CREATE TABLE audit_events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    table_name text NOT NULL,
    record_id bigint,
    action text NOT NULL,
    old_values jsonb,
    new_values jsonb,
    changed_fields text[],
    actor text NOT NULL DEFAULT current_user,
    application_name text DEFAULT current_setting('application_name', true),
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT check_audit_events_action CHECK (action IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE'))
);

CREATE INDEX index_audit_events_on_table_name_and_record_id
    ON audit_events (table_name, record_id);

-- TG_ARGV[0] lists columns (as a text[] literal) that are left out of the log.
CREATE OR REPLACE FUNCTION audit_trigger_func() RETURNS trigger
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, public
AS $$
DECLARE
    v_excluded text[] := coalesce(TG_ARGV[0], '{}')::text[];
    v_old jsonb;
    v_new jsonb;
    v_changed text[];
    v_record_id bigint;
BEGIN
    IF TG_WHEN <> 'AFTER' THEN
        RAISE EXCEPTION 'audit_trigger_func() must be an AFTER trigger; % on % is %',
            TG_NAME, TG_TABLE_NAME, TG_WHEN;
    END IF;

    IF TG_LEVEL = 'STATEMENT' THEN
        INSERT INTO public.audit_events (table_name, action) VALUES (TG_TABLE_NAME, TG_OP);
        RETURN NULL;
    END IF;

    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        v_old := to_jsonb(OLD) - v_excluded;
        v_record_id := (to_jsonb(OLD) ->> 'id')::bigint;
    END IF;

    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        v_new := to_jsonb(NEW) - v_excluded;
        v_record_id := (to_jsonb(NEW) ->> 'id')::bigint;
    END IF;

    IF TG_OP = 'UPDATE' THEN
        SELECT array_agg(n.key ORDER BY n.key)
          INTO v_changed
          FROM jsonb_each(v_new) AS n
         WHERE n.value IS DISTINCT FROM v_old -> n.key;

        IF v_changed IS NULL THEN
            -- only excluded columns changed: nothing worth logging
            RETURN NULL;
        END IF;
    END IF;

    INSERT INTO public.audit_events (table_name, record_id, action, old_values, new_values, changed_fields)
    VALUES (TG_TABLE_NAME, v_record_id, TG_OP, v_old, v_new, v_changed);

    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION trigger_set_updated_at() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

CREATE TRIGGER trigger_audit_users
    AFTER INSERT OR UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION audit_trigger_func('{updated_at}');

CREATE TRIGGER trigger_audit_projects
    AFTER INSERT OR UPDATE OR DELETE ON projects
    FOR EACH ROW EXECUTE FUNCTION audit_trigger_func('{updated_at}');

CREATE TRIGGER trigger_audit_issues
    AFTER INSERT OR UPDATE OR DELETE ON issues
    FOR EACH ROW EXECUTE FUNCTION audit_trigger_func('{updated_at,description}');

CREATE TRIGGER trigger_audit_issues_truncate
    AFTER TRUNCATE ON issues
    FOR EACH STATEMENT EXECUTE FUNCTION audit_trigger_func();

CREATE TRIGGER trigger_users_updated_at
    BEFORE UPDATE ON users
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION trigger_set_updated_at();

CREATE TRIGGER trigger_projects_updated_at
    BEFORE UPDATE ON projects
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION trigger_set_updated_at();

CREATE TRIGGER trigger_issues_updated_at
    BEFORE UPDATE ON issues
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION trigger_set_updated_at();

-- DOWN
DROP TRIGGER IF EXISTS trigger_issues_updated_at ON issues;
DROP TRIGGER IF EXISTS trigger_projects_updated_at ON projects;
DROP TRIGGER IF EXISTS trigger_users_updated_at ON users;
DROP TRIGGER IF EXISTS trigger_audit_issues_truncate ON issues;
DROP TRIGGER IF EXISTS trigger_audit_issues ON issues;
DROP TRIGGER IF EXISTS trigger_audit_projects ON projects;
DROP TRIGGER IF EXISTS trigger_audit_users ON users;
DROP FUNCTION IF EXISTS trigger_set_updated_at();
DROP FUNCTION IF EXISTS audit_trigger_func();
DROP TABLE IF EXISTS audit_events;
