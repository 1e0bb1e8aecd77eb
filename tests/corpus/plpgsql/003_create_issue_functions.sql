-- Migration: 003_create_issue_functions.sql
-- Created: 2026-02-05
-- Description: Namespace traversal ids, issue references and moving issues between projects

-- UP

-- Directions in the namespace tree, used by the functions below.
CREATE OR REPLACE FUNCTION namespace_traversal_ids(p_namespace_id bigint) RETURNS bigint[]
    LANGUAGE plpgsql
    STABLE
AS $$
DECLARE
    v_ids bigint[] := '{}';
    v_current bigint := p_namespace_id;
    v_depth integer := 0;
BEGIN
-- Walking the tree:
-- UP
-- means towards the root (this function);
-- DOWN
-- means towards the leaves (see namespace_descendant_ids).
    WHILE v_current IS NOT NULL LOOP
        v_depth := v_depth + 1;
        IF v_depth > 20 THEN
            RAISE EXCEPTION 'namespace % is nested deeper than % levels; is there a cycle?',
                p_namespace_id, 20
                USING ERRCODE = 'invalid_recursion';
        END IF;
        v_ids := v_current || v_ids;
        SELECT n.parent_id INTO v_current FROM namespaces n WHERE n.id = v_current;
    END LOOP;
    RETURN v_ids;
END;
$$;

CREATE OR REPLACE FUNCTION namespace_descendant_ids(p_namespace_id bigint) RETURNS SETOF bigint
    LANGUAGE sql
    STABLE
    BEGIN ATOMIC
        SELECT n.id FROM namespaces n WHERE n.traversal_ids @> ARRAY[p_namespace_id];
    END;

CREATE OR REPLACE FUNCTION trigger_namespaces_traversal_ids() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    IF NEW.parent_id IS NULL THEN
        NEW.traversal_ids := ARRAY[NEW.id];
    ELSE
        NEW.traversal_ids := namespace_traversal_ids(NEW.parent_id) || NEW.id;
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER trigger_namespaces_traversal_ids
    BEFORE INSERT OR UPDATE OF parent_id ON namespaces
    FOR EACH ROW EXECUTE FUNCTION trigger_namespaces_traversal_ids();

-- A reference like "group/project#12"; SQL-standard body, so semicolons appear outside quotes.
CREATE OR REPLACE FUNCTION issue_reference(p_issue_id bigint) RETURNS text
    LANGUAGE sql
    STABLE
    BEGIN ATOMIC
        SELECT n.path || '/' || p.path || '#' || i.iid
          FROM issues i
          JOIN projects p ON p.id = i.project_id
          JOIN namespaces n ON n.id = p.namespace_id
         WHERE i.id = p_issue_id;
    END;

CREATE OR REPLACE FUNCTION move_issues(
    p_source_project_id bigint,
    p_target_project_id bigint,
    p_actor_id bigint,
    p_dry_run boolean DEFAULT false
)
RETURNS TABLE (issue_id bigint, old_iid integer, new_iid integer, outcome text)
    LANGUAGE plpgsql
AS $fn$
<<move>>
DECLARE
    v_source projects%ROWTYPE;
    v_target projects%ROWTYPE;
    v_actor_state text;
    v_next_iid integer;
    v_issue record;
    v_moved integer := 0;
    v_skipped integer := 0;
    v_failed integer := 0;
    v_sqlstate text;
    v_message text;
    v_context text;
    v_label_table CONSTANT text := 'labels';
BEGIN
    IF p_source_project_id IS NULL OR p_target_project_id IS NULL THEN
        RAISE EXCEPTION 'move_issues: project ids must not be null (source=%, target=%)',
            p_source_project_id, p_target_project_id
            USING ERRCODE = 'null_value_not_allowed';
    END IF;

    IF p_source_project_id = p_target_project_id THEN
        RAISE EXCEPTION 'move_issues: source and target are the same project (%)', p_source_project_id
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pick another target project; moving issues onto themselves does nothing.';
    END IF;

    SELECT * INTO v_source FROM projects WHERE id = p_source_project_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'move_issues: source project % does not exist', p_source_project_id
            USING ERRCODE = 'no_data_found';
    END IF;

    SELECT * INTO v_target FROM projects WHERE id = p_target_project_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'move_issues: target project % does not exist', p_target_project_id
            USING ERRCODE = 'no_data_found';
    END IF;

    IF v_target.archived THEN
        RAISE EXCEPTION 'move_issues: target project "%" is archived; unarchive it first', v_target.path
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;

    SELECT u.state INTO v_actor_state FROM users u WHERE u.id = p_actor_id;
    IF v_actor_state IS DISTINCT FROM 'active' THEN
        RAISE EXCEPTION 'move_issues: user % cannot move issues (state: %)',
            p_actor_id, coalesce(v_actor_state, 'missing');
    END IF;

    -- iids of the target project continue after its highest iid, in the source order:
    -- UP
    --   iids only ever go up in the target project;
    -- DOWN
    --   the source project keeps its gaps (iids are never reused).
    SELECT coalesce(max(i.iid), 0) + 1 INTO v_next_iid
      FROM issues i
     WHERE i.project_id = p_target_project_id;

    RAISE NOTICE 'move_issues: "%" -> "%" starting at iid %; dry run: %',
        v_source.path, v_target.path, v_next_iid, p_dry_run;

    FOR v_issue IN
        SELECT i.id, i.iid, i.title, i.state_id
          FROM issues i
         WHERE i.project_id = p_source_project_id
         ORDER BY i.iid
           FOR UPDATE
    LOOP
        issue_id := v_issue.id;
        old_iid := v_issue.iid;
        new_iid := NULL;

        IF v_issue.state_id = 3 THEN
            outcome := 'skipped; locked';
            v_skipped := v_skipped + 1;
            RETURN NEXT;
            CONTINUE;
        END IF;

        IF p_dry_run THEN
            new_iid := v_next_iid;
            outcome := 'would move';
            v_next_iid := v_next_iid + 1;
            v_moved := v_moved + 1;
            RETURN NEXT;
            CONTINUE;
        END IF;

        BEGIN
            UPDATE issues
               SET project_id = p_target_project_id,
                   iid = v_next_iid,
                   description = coalesce(description, '')
                       || format(E'\n\n_Moved from %s#%s by user %s;_', v_source.path, v_issue.iid, p_actor_id)
             WHERE id = v_issue.id;

            -- Labels are per project: copy the ones the target lacks.
            EXECUTE format($$
                INSERT INTO %1$I (project_id, title, color, description)
                SELECT $1, l.title, l.color, l.description
                  FROM %1$I l
                 WHERE l.project_id = $2
                   AND NOT EXISTS (SELECT 1 FROM %1$I t WHERE t.project_id = $1 AND t.title = l.title);
            $$, v_label_table)
            USING p_target_project_id, p_source_project_id;

            new_iid := v_next_iid;
            outcome := 'moved';
            v_next_iid := v_next_iid + 1;
            v_moved := v_moved + 1;
        EXCEPTION
            WHEN unique_violation THEN
                GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT;
                outcome := format('skipped; duplicate: %s', v_message);
                v_skipped := v_skipped + 1;
            WHEN foreign_key_violation OR check_violation THEN
                GET STACKED DIAGNOSTICS v_sqlstate = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT;
                outcome := format('failed; %s (%s)', v_message, v_sqlstate);
                v_failed := v_failed + 1;
            WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS
                    v_sqlstate = RETURNED_SQLSTATE,
                    v_message = MESSAGE_TEXT,
                    v_context = PG_EXCEPTION_CONTEXT;
                RAISE WARNING 'move_issues: issue % (iid %) failed with %: %; context: %',
                    v_issue.id, v_issue.iid, v_sqlstate, v_message, v_context;
                outcome := 'failed; ' || v_sqlstate;
                v_failed := v_failed + 1;
        END;

        RETURN NEXT;
    END LOOP;

    IF NOT p_dry_run THEN
        UPDATE projects SET updated_at = now() WHERE id IN (p_source_project_id, p_target_project_id);
    END IF;

    RAISE NOTICE 'move_issues: % moved; % skipped; % failed (100%% of % issues seen)',
        v_moved, v_skipped, v_failed, v_moved + v_skipped + v_failed;
    RETURN;
END move;
$fn$;

COMMENT ON FUNCTION move_issues(bigint, bigint, bigint, boolean) IS
    'Moves every issue of one project to another; returns one row per issue. Dry run: nothing changes.';

-- DOWN
DROP FUNCTION IF EXISTS move_issues(bigint, bigint, bigint, boolean);
DROP FUNCTION IF EXISTS issue_reference(bigint);
DROP TRIGGER IF EXISTS trigger_namespaces_traversal_ids ON namespaces;
DROP FUNCTION IF EXISTS trigger_namespaces_traversal_ids();
DROP FUNCTION IF EXISTS namespace_descendant_ids(bigint);
DROP FUNCTION IF EXISTS namespace_traversal_ids(bigint);
