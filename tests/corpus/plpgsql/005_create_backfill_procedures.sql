-- Migration: 005_create_backfill_procedures.sql
-- Created: 2026-02-10
-- Description: Procedures for batched backfills (run by operators, not by this migration)

-- UP

-- Commits after every batch, so it must be CALLed outside a transaction block;
-- the COMMIT below is part of the procedure body, not of this migration.
CREATE OR REPLACE PROCEDURE backfill_projects_issues_count(p_batch_size integer DEFAULT 1000)
    LANGUAGE plpgsql
AS $$
DECLARE
    v_last_id bigint := 0;
    v_max_id bigint;
    v_rows integer;
BEGIN
    IF p_batch_size < 1 THEN
        RAISE EXCEPTION 'batch size must be positive, got %', p_batch_size
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    SELECT coalesce(max(id), 0) INTO v_max_id FROM projects;

    WHILE v_last_id < v_max_id LOOP
        UPDATE projects p
           SET issues_count = (SELECT count(*) FROM issues i WHERE i.project_id = p.id)
         WHERE p.id > v_last_id
           AND p.id <= v_last_id + p_batch_size;
        GET DIAGNOSTICS v_rows = ROW_COUNT;
        RAISE NOTICE 'backfilled % projects; ids % to %', v_rows, v_last_id + 1, v_last_id + p_batch_size;
        v_last_id := v_last_id + p_batch_size;
        COMMIT;
    END LOOP;
END;
$$;

CREATE OR REPLACE PROCEDURE close_stale_issues(p_before timestamptz, INOUT p_closed integer DEFAULT 0)
    LANGUAGE plpgsql
AS $$
BEGIN
    UPDATE issues
       SET state_id = 2,
           closed_at = now()
     WHERE state_id = 1
       AND updated_at < p_before;
    GET DIAGNOSTICS p_closed = ROW_COUNT;
EXCEPTION
    WHEN lock_not_available THEN
        RAISE WARNING 'close_stale_issues: issues are locked; try again later';
        p_closed := 0;
END;
$$;

-- DOWN
DROP PROCEDURE IF EXISTS close_stale_issues(timestamptz, integer);
DROP PROCEDURE IF EXISTS backfill_projects_issues_count(integer);
