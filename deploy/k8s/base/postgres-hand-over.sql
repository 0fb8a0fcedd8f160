-- Included by postgres-grants.sql in each database it manages, with :new_owner set: that role
-- becomes the owner of every table, view, sequence and type in schema public that another role
-- owns (releases before the grants Job let everything connect as the superuser, which therefore
-- owns what they created). Sequences that belong to a column follow their table; objects of
-- extensions keep their owner. Nothing to do means no statement at all.
SELECT format('ALTER %s %I.%I OWNER TO %I', o.kind, o.schema, o.name, :'new_owner')
FROM (
    SELECT CASE c.relkind
               WHEN 'S' THEN 'SEQUENCE'
               WHEN 'v' THEN 'VIEW'
               WHEN 'm' THEN 'MATERIALIZED VIEW'
               WHEN 'f' THEN 'FOREIGN TABLE'
               ELSE 'TABLE'
           END AS kind,
           n.nspname AS schema, c.relname AS name, c.relowner AS owner, c.oid,
           'pg_class'::regclass AS catalog
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
      AND NOT EXISTS (
          SELECT FROM pg_depend d
          WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
            AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
            AND c.relkind = 'S'
      )
    UNION ALL
    SELECT CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END,
           n.nspname, t.typname, t.typowner, t.oid, 'pg_type'::regclass
    FROM pg_type t
    JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE t.typtype IN ('e', 'd', 'r')
) AS o
WHERE o.schema = 'public'
  AND o.owner <> :'new_owner'::regrole
  AND NOT EXISTS (
      SELECT FROM pg_depend d
      WHERE d.classid = o.catalog AND d.objid = o.oid AND d.deptype = 'e'
  )
ORDER BY o.kind = 'SEQUENCE', o.kind, o.name \gexec
