"""The catalog queries behind :mod:`pgshift.review.snapshot`, one per object kind.

Every query returns the same identity columns, then the object's attributes:

- ``object_type`` — the word used in messages (``table``, ``column``, ``index``, …);
- ``path`` — the object's raw name parts (``{schema, table, column}``), its identity;
- ``parent_type``/``parent_path`` — the object it belongs to (a column's table), or NULL;
- ``summary`` — a short description shown when the object is added or removed; it is
  not compared;
- every further column is a compared attribute, named by its alias (``not_null`` reads
  "not null"); NULL means "not set".

The queries cover every schema that is not a system schema (``pg_*`` names are reserved
for the system, so ``pg_catalog``, ``pg_toast*`` and ``pg_temp*`` are all left out), and
leave out objects that belong to an extension (the extension itself is compared) and
objects PostgreSQL creates for its own use (toast tables, array and row types, internal
triggers, not-null constraints that PostgreSQL 18 records in ``pg_constraint``), whose
names carry OIDs or duplicate another attribute.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

SCHEMAS = """
SELECT 'schema' AS object_type, ARRAY[n.nspname] AS path,
       NULL AS parent_type, NULL::text[] AS parent_path, NULL AS summary,
       obj_description(n.oid, 'pg_namespace') AS comment
FROM pg_namespace n
WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass
                  AND d.objid = n.oid AND d.deptype = 'e')
"""

EXTENSIONS = """
SELECT 'extension' AS object_type, ARRAY[e.extname] AS path,
       NULL AS parent_type, NULL::text[] AS parent_path, e.extversion AS summary,
       e.extversion AS version, n.nspname AS schema,
       obj_description(e.oid, 'pg_extension') AS comment
FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
"""

RELATIONS = """
SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'f' THEN 'foreign table'
         WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence'
       END AS object_type,
       ARRAY[n.nspname, c.relname] AS path,
       CASE WHEN own.relname IS NOT NULL THEN 'table'
            WHEN inh_parent.relname IS NOT NULL THEN 'table' END AS parent_type,
       CASE WHEN own.relname IS NOT NULL THEN ARRAY[n.nspname, own.relname]
            WHEN inh_parent.relname IS NOT NULL THEN ARRAY[inh_n.nspname, inh_parent.relname]
       END AS parent_path,
       CASE WHEN c.relkind = 'S' THEN format_type(s.seqtypid, NULL)
            WHEN c.relkind IN ('r', 'p', 'f') THEN
              (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', '
                                 ORDER BY a.attnum)
               FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0
                 AND NOT a.attisdropped)
       END AS summary,
       CASE c.relpersistence WHEN 'u' THEN 'unlogged' WHEN 't' THEN 'temporary'
         ELSE 'permanent' END AS persistence,
       CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END AS partitioned_by,
       CASE WHEN c.relispartition THEN inh_n.nspname || '.' || inh_parent.relname END
         AS partition_of,
       CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, c.oid) END AS partition_bound,
       (SELECT string_agg(pn.nspname || '.' || pc.relname, ', ' ORDER BY i.inhseqno)
        FROM pg_inherits i JOIN pg_class pc ON pc.oid = i.inhparent
        JOIN pg_namespace pn ON pn.oid = pc.relnamespace
        WHERE i.inhrelid = c.oid AND NOT c.relispartition) AS inherits,
       CASE WHEN c.relkind IN ('r', 'p') THEN c.relrowsecurity END AS row_security,
       CASE WHEN c.relkind IN ('r', 'p') THEN c.relforcerowsecurity END AS force_row_security,
       CASE WHEN c.relkind IN ('r', 'p') THEN
         CASE c.relreplident WHEN 'd' THEN 'default' WHEN 'n' THEN 'nothing' WHEN 'f' THEN 'full'
           WHEN 'i' THEN 'index' END END AS replica_identity,
       array_to_string(c.reloptions, ', ') AS options,
       am.amname AS access_method,
       ts.spcname AS tablespace,
       CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END AS definition,
       CASE WHEN c.relkind = 'm' THEN c.relispopulated END AS populated,
       format_type(s.seqtypid, NULL) AS data_type,
       s.seqstart AS start, s.seqincrement AS increment, s.seqmin AS minimum,
       s.seqmax AS maximum, s.seqcache AS cache, s.seqcycle AS cycle,
       CASE WHEN own.relname IS NOT NULL THEN own.relname || '.' || own_a.attname END AS owned_by,
       obj_description(c.oid, 'pg_class') AS comment
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_am am ON am.oid = c.relam
LEFT JOIN pg_tablespace ts ON ts.oid = c.reltablespace
LEFT JOIN pg_sequence s ON s.seqrelid = c.oid
LEFT JOIN pg_depend own_d ON c.relkind = 'S' AND own_d.classid = 'pg_class'::regclass
  AND own_d.objid = c.oid AND own_d.refclassid = 'pg_class'::regclass
  AND own_d.refobjsubid > 0 AND own_d.deptype IN ('a', 'i')
LEFT JOIN pg_class own ON own.oid = own_d.refobjid
LEFT JOIN pg_attribute own_a ON own_a.attrelid = own_d.refobjid
  AND own_a.attnum = own_d.refobjsubid
LEFT JOIN pg_inherits inh ON c.relispartition AND inh.inhrelid = c.oid
LEFT JOIN pg_class inh_parent ON inh_parent.oid = inh.inhparent
LEFT JOIN pg_namespace inh_n ON inh_n.oid = inh_parent.relnamespace
WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm', 'S')
  AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
"""

COLUMNS = """
SELECT 'column' AS object_type, ARRAY[n.nspname, c.relname, a.attname] AS path,
       CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'f' THEN 'foreign table'
         WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' END AS parent_type,
       ARRAY[n.nspname, c.relname] AS parent_path,
       format_type(a.atttypid, a.atttypmod) AS summary,
       format_type(a.atttypid, a.atttypmod) AS type,
       a.attnotnull AS not_null,
       CASE WHEN a.attgenerated = '' THEN pg_get_expr(ad.adbin, ad.adrelid) END AS default,
       CASE a.attidentity WHEN 'a' THEN 'always' WHEN 'd' THEN 'by default' END AS identity,
       CASE WHEN a.attgenerated <> '' THEN pg_get_expr(ad.adbin, ad.adrelid)
         || CASE a.attgenerated WHEN 's' THEN ' stored' WHEN 'v' THEN ' virtual' ELSE '' END
       END AS generated,
       CASE WHEN a.attcollation <> t.typcollation THEN co_n.nspname || '.' || co.collname END
         AS collation,
       col_description(c.oid, a.attnum) AS comment
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
LEFT JOIN pg_collation co ON co.oid = a.attcollation
LEFT JOIN pg_namespace co_n ON co_n.oid = co.collnamespace
WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm') AND a.attnum > 0 AND NOT a.attisdropped
  AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
"""

CONSTRAINTS = """
SELECT 'constraint' AS object_type, ARRAY[n.nspname, c.relname, con.conname] AS path,
       CASE c.relkind WHEN 'f' THEN 'foreign table' ELSE 'table' END AS parent_type,
       ARRAY[n.nspname, c.relname] AS parent_path,
       pg_get_constraintdef(con.oid) AS summary,
       pg_get_constraintdef(con.oid) AS definition,
       CASE con.contype WHEN 'p' THEN 'primary key' WHEN 'u' THEN 'unique'
         WHEN 'f' THEN 'foreign key' WHEN 'c' THEN 'check' WHEN 'x' THEN 'exclusion'
         WHEN 't' THEN 'trigger' ELSE con.contype::text END AS constraint_type,
       con.convalidated AS validated,
       obj_description(con.oid, 'pg_constraint') AS comment
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE con.contype <> 'n'
  AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
"""

INDEXES = """
SELECT 'index' AS object_type, ARRAY[n.nspname, ic.relname] AS path,
       CASE WHEN con.conname IS NOT NULL THEN 'constraint'
         ELSE CASE tc.relkind WHEN 'm' THEN 'materialized view' WHEN 'f' THEN 'foreign table'
           ELSE 'table' END END AS parent_type,
       CASE WHEN con.conname IS NOT NULL THEN ARRAY[n.nspname, tc.relname, con.conname]
         ELSE ARRAY[n.nspname, tc.relname] END AS parent_path,
       pg_get_indexdef(ic.oid) AS summary,
       pg_get_indexdef(ic.oid) AS definition,
       i.indisunique AS unique, i.indisvalid AS valid, i.indisclustered AS clustered,
       ts.spcname AS tablespace,
       obj_description(ic.oid, 'pg_class') AS comment
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class tc ON tc.oid = i.indrelid
JOIN pg_namespace n ON n.oid = ic.relnamespace
LEFT JOIN pg_tablespace ts ON ts.oid = ic.reltablespace
LEFT JOIN pg_constraint con ON con.conindid = ic.oid AND con.conrelid = tc.oid
  AND con.contype IN ('p', 'u', 'x')
WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = tc.oid AND d.deptype = 'e')
"""

FUNCTIONS = """
SELECT CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate'
         WHEN 'w' THEN 'window function' ELSE 'function' END AS object_type,
       ARRAY[n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)] AS path,
       NULL AS parent_type, NULL::text[] AS parent_path, NULL AS summary,
       pg_get_function_arguments(p.oid) AS arguments,
       pg_get_function_result(p.oid) AS result,
       l.lanname AS language,
       -- SQL-standard bodies (BEGIN ATOMIC) leave prosrc empty
       CASE WHEN p.prosrc = '' AND l.lanname = 'sql' THEN pg_get_functiondef(p.oid)
         ELSE p.prosrc END AS body,
       p.probin AS library,
       CASE p.provolatile WHEN 'i' THEN 'immutable' WHEN 's' THEN 'stable'
         ELSE 'volatile' END AS volatility,
       p.proisstrict AS strict,
       p.prosecdef AS security_definer,
       p.proleakproof AS leakproof,
       CASE p.proparallel WHEN 's' THEN 'safe' WHEN 'r' THEN 'restricted'
         ELSE 'unsafe' END AS parallel,
       p.procost AS cost,
       CASE WHEN p.proretset THEN p.prorows END AS rows,
       array_to_string(p.proconfig, ', ') AS config,
       obj_description(p.oid, 'pg_proc') AS comment
FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace
JOIN pg_language l ON l.oid = p.prolang
WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
  -- 'i': constructors PostgreSQL creates for range types
  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                  AND d.objid = p.oid AND d.deptype IN ('e', 'i'))
"""

TRIGGERS = """
SELECT 'trigger' AS object_type, ARRAY[n.nspname, c.relname, tg.tgname] AS path,
       CASE c.relkind WHEN 'v' THEN 'view' WHEN 'f' THEN 'foreign table' ELSE 'table' END
         AS parent_type,
       ARRAY[n.nspname, c.relname] AS parent_path,
       pg_get_triggerdef(tg.oid) AS summary,
       pg_get_triggerdef(tg.oid) AS definition,
       CASE tg.tgenabled WHEN 'O' THEN 'enabled' WHEN 'D' THEN 'disabled'
         WHEN 'R' THEN 'replica' WHEN 'A' THEN 'always' END AS enabled,
       obj_description(tg.oid, 'pg_trigger') AS comment
FROM pg_trigger tg
JOIN pg_class c ON c.oid = tg.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT tg.tgisinternal
  AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
"""

TYPES = """
SELECT CASE t.typtype WHEN 'e' THEN 'enum' WHEN 'd' THEN 'domain' WHEN 'c' THEN 'composite type'
         WHEN 'r' THEN 'range type' END AS object_type,
       ARRAY[n.nspname, t.typname] AS path,
       NULL AS parent_type, NULL::text[] AS parent_path,
       coalesce(enum_values.labels, attrs.list, format_type(r.rngsubtype, NULL),
                CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END)
         AS summary,
       enum_values.labels AS values,
       attrs.list AS attributes,
       CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END AS base_type,
       CASE WHEN t.typtype = 'd' THEN t.typnotnull END AS not_null,
       CASE WHEN t.typtype = 'd' THEN pg_get_expr(t.typdefaultbin, 0) END AS default,
       CASE WHEN t.typtype = 'd' AND t.typcollation <> base.typcollation THEN co.collname END
         AS collation,
       dom_checks.list AS constraints,
       format_type(r.rngsubtype, NULL) AS subtype,
       obj_description(t.oid, 'pg_type') AS comment
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
LEFT JOIN pg_class rel ON rel.oid = t.typrelid
LEFT JOIN pg_type base ON base.oid = t.typbasetype
LEFT JOIN pg_collation co ON co.oid = t.typcollation
LEFT JOIN pg_range r ON r.rngtypid = t.oid
LEFT JOIN LATERAL (
  SELECT string_agg(e.enumlabel, ', ' ORDER BY e.enumsortorder) AS labels
  FROM pg_enum e WHERE e.enumtypid = t.oid AND t.typtype = 'e') enum_values ON true
LEFT JOIN LATERAL (
  SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                    || CASE WHEN a.attcollation <> at.typcollation
                         THEN ' COLLATE ' || ac.collname ELSE '' END, ', ' ORDER BY a.attnum)
           AS list
  FROM pg_attribute a JOIN pg_type at ON at.oid = a.atttypid
  LEFT JOIN pg_collation ac ON ac.oid = a.attcollation
  WHERE a.attrelid = t.typrelid AND t.typtype = 'c' AND a.attnum > 0
    AND NOT a.attisdropped) attrs ON true
LEFT JOIN LATERAL (
  SELECT string_agg(dc.conname || ': ' || pg_get_constraintdef(dc.oid), '; '
                    ORDER BY dc.conname) AS list
  FROM pg_constraint dc WHERE dc.contypid = t.oid AND dc.contype <> 'n') dom_checks ON true
WHERE t.typtype IN ('e', 'd', 'c', 'r') AND (t.typtype <> 'c' OR rel.relkind = 'c')
  AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_type'::regclass
                  AND d.objid = t.oid AND d.deptype = 'e')
"""

POLICIES = """
SELECT 'policy' AS object_type, ARRAY[n.nspname, c.relname, pol.polname] AS path,
       'table' AS parent_type, ARRAY[n.nspname, c.relname] AS parent_path, NULL AS summary,
       CASE pol.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
         WHEN 'd' THEN 'DELETE' ELSE 'ALL' END AS command,
       CASE WHEN pol.polpermissive THEN 'permissive' ELSE 'restrictive' END AS mode,
       (SELECT string_agg(CASE WHEN r.oid = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(r.oid) END,
                          ', ' ORDER BY 1)
        FROM unnest(pol.polroles) AS r(oid)) AS roles,
       pg_get_expr(pol.polqual, pol.polrelid) AS using,
       pg_get_expr(pol.polwithcheck, pol.polrelid) AS with_check,
       obj_description(pol.oid, 'pg_policy') AS comment
FROM pg_policy pol
JOIN pg_class c ON c.oid = pol.polrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
"""

# Grants are compared as the difference between an object's ACL and the default ACL of
# its kind, and the owner's own entries are left out: the result then does not depend on
# which role created the object, and an ACL that was granted and revoked again compares
# equal to one never touched.
PRIVILEGES = """
WITH targets AS (
  SELECT 'schema' AS target_type, ARRAY[n.nspname] AS target_path, n.nspowner AS owner,
         n.nspacl AS acl, 'n' AS defkind
  FROM pg_namespace n
  WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
    AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass
                    AND d.objid = n.oid AND d.deptype = 'e')
  UNION ALL
  SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'f' THEN 'foreign table'
           WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence' END,
         ARRAY[n.nspname, c.relname], c.relowner, c.relacl,
         CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm', 'S')
    AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
    AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                    AND d.objid = c.oid AND d.deptype = 'e')
  UNION ALL
  SELECT 'column', ARRAY[n.nspname, c.relname, a.attname], c.relowner, a.attacl, 'c'
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE a.attacl IS NOT NULL AND a.attnum > 0 AND NOT a.attisdropped
    AND c.relkind IN ('r', 'p', 'f', 'v', 'm')
    AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
    AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                    AND d.objid = c.oid AND d.deptype = 'e')
  UNION ALL
  SELECT CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate'
           WHEN 'w' THEN 'window function' ELSE 'function' END,
         ARRAY[n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)],
         p.proowner, p.proacl, 'f'
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
  WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
    AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                    AND d.objid = p.oid AND d.deptype IN ('e', 'i'))
  UNION ALL
  SELECT CASE t.typtype WHEN 'e' THEN 'enum' WHEN 'd' THEN 'domain'
           WHEN 'c' THEN 'composite type' WHEN 'r' THEN 'range type' END,
         ARRAY[n.nspname, t.typname], t.typowner, t.typacl, 'T'
  FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
  LEFT JOIN pg_class rel ON rel.oid = t.typrelid
  WHERE t.typtype IN ('e', 'd', 'c', 'r') AND (t.typtype <> 'c' OR rel.relkind = 'c')
    AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
    AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_type'::regclass
                    AND d.objid = t.oid AND d.deptype = 'e')
), acls AS (
  SELECT target_type, target_path, owner,
         coalesce(acl, acldefault(defkind::"char", owner)) AS acl,
         acldefault(defkind::"char", owner) AS dflt
  FROM targets
), entries AS (
  SELECT a.target_type, a.target_path, a.owner, g.grantee, g.privilege_type, g.is_grantable,
         'granted' AS state
  FROM acls a, LATERAL (
    SELECT grantee, privilege_type, is_grantable FROM aclexplode(a.acl)
    EXCEPT SELECT grantee, privilege_type, is_grantable FROM aclexplode(a.dflt)) g
  UNION ALL
  SELECT a.target_type, a.target_path, a.owner, g.grantee, g.privilege_type, NULL, 'revoked'
  FROM acls a, LATERAL (
    SELECT grantee, privilege_type FROM aclexplode(a.dflt)
    EXCEPT SELECT grantee, privilege_type FROM aclexplode(a.acl)) g
)
SELECT 'privilege' AS object_type,
       ARRAY[target_type] || target_path || ARRAY[
         privilege_type,
         CASE WHEN grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(grantee) END,
         state] AS path,
       target_type AS parent_type, target_path AS parent_path, NULL AS summary,
       is_grantable AS grant_option
FROM entries
WHERE grantee <> owner
"""

QUERIES = (
    SCHEMAS,
    EXTENSIONS,
    RELATIONS,
    COLUMNS,
    CONSTRAINTS,
    INDEXES,
    FUNCTIONS,
    TRIGGERS,
    TYPES,
    POLICIES,
    PRIVILEGES,
)


def fetch_rows(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    """Run every catalog query, in one transaction, and return all their rows.

    Raises: psycopg.Error — the catalog could not be read.
    """
    rows: list[dict[str, Any]] = []
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        for query in QUERIES:
            cur.execute(query)
            rows.extend(cur.fetchall())
    return rows
