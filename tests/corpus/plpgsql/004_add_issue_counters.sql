-- Migration: 004_add_issue_counters.sql
-- Created: 2026-02-09
-- Description: projects.issues_count kept by a trigger; created_at indexes added where missing

-- Written to be re-runnable: every step checks the catalog first.

-- UP
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1
          FROM information_schema.columns
         WHERE table_schema = current_schema()
           AND table_name = 'projects'
           AND column_name = 'issues_count'
    ) THEN
        ALTER TABLE projects ADD COLUMN issues_count integer NOT NULL DEFAULT 0;
    END IF;

    IF NOT EXISTS (
        SELECT 1
          FROM pg_constraint
         WHERE conname = 'check_projects_issues_count_non_negative'
           AND conrelid = 'projects'::regclass
    ) THEN
        ALTER TABLE projects
            ADD CONSTRAINT check_projects_issues_count_non_negative CHECK (issues_count >= 0) NOT VALID;
        ALTER TABLE projects VALIDATE CONSTRAINT check_projects_issues_count_non_negative;
    END IF;
END
$$;

DO $do$
DECLARE
    r record;
    v_index text;
BEGIN
    FOR r IN
        SELECT c.relname
          FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = current_schema()
           AND c.relkind = 'r'
           AND c.relname IN ('users', 'projects', 'issues')
         ORDER BY c.relname
    LOOP
        v_index := format('index_%s_on_created_at', r.relname);
        IF to_regclass(quote_ident(v_index)) IS NULL THEN
            EXECUTE format($$CREATE INDEX %I ON %I (created_at)$$, v_index, r.relname);
            RAISE NOTICE 'created index %', v_index;
        ELSE
            RAISE NOTICE 'index % already exists; skipped', v_index;
        END IF;
    END LOOP;
END
$do$;

-- The trigger function is created from inside a DO block, so its body nests in the block's quotes.
DO $$
BEGIN
    IF to_regprocedure('trigger_projects_issues_count()') IS NULL THEN
        CREATE FUNCTION trigger_projects_issues_count() RETURNS trigger
            LANGUAGE plpgsql
        AS $fn$
        BEGIN
            IF TG_OP IN ('INSERT', 'UPDATE') THEN
                UPDATE projects SET issues_count = issues_count + 1 WHERE id = NEW.project_id;
            END IF;
            IF TG_OP IN ('DELETE', 'UPDATE') THEN
                UPDATE projects SET issues_count = issues_count - 1 WHERE id = OLD.project_id;
            END IF;
            RETURN NULL;
        END;
        $fn$;
    END IF;
END
$$;

CREATE TRIGGER trigger_projects_issues_count
    AFTER INSERT OR DELETE OR UPDATE OF project_id ON issues
    FOR EACH ROW EXECUTE FUNCTION trigger_projects_issues_count();

-- DOWN
DROP TRIGGER IF EXISTS trigger_projects_issues_count ON issues;
DROP FUNCTION IF EXISTS trigger_projects_issues_count();

DO $$
DECLARE
    v_table text;
BEGIN
    FOREACH v_table IN ARRAY ARRAY['users', 'projects', 'issues'] LOOP
        EXECUTE format('DROP INDEX IF EXISTS %I', format('index_%s_on_created_at', v_table));
    END LOOP;
END
$$;

ALTER TABLE projects DROP CONSTRAINT IF EXISTS check_projects_issues_count_non_negative;
ALTER TABLE projects DROP COLUMN IF EXISTS issues_count;
