-- The PostgreSQL roles of the platform (SPEC §13), run as the superuser by postgres-grants.sh,
-- which puts the roles, passwords and databases in the environment. Every statement states an
-- end state (a guarded CREATE ROLE, ALTER, GRANT, REVOKE), so running this again changes nothing;
-- on a cluster from before these roles existed, it hands the superuser's tables to their roles.
--
--   MLflow's role    owns MLflow's tables; connects to MLflow's database only.
--   the app's role   owns the platform's tables (the app and its migration step use it);
--                    connects to the app's database only: never MLflow's, never the superuser.
--   the pipeline's   (trainer, promoter) reads and writes rows of those tables; cannot delete
--                    rows, create, alter or drop anything.
--
-- The roles may log in only at the very end, so a client that waits for its login (the
-- wait-for-database init containers) starts when everything else here is in place.

\getenv mlflow_role MLFLOW_ROLE
\getenv mlflow_password MLFLOW_PASSWORD
\getenv mlflow_database MLFLOW_DATABASE
\getenv app_role APP_ROLE
\getenv app_password APP_PASSWORD
\getenv app_database APP_DATABASE
\getenv pipeline_role PIPELINE_ROLE
\getenv pipeline_password PIPELINE_PASSWORD

-- Nobody but the superuser connects to the server's own database.
REVOKE ALL ON DATABASE postgres FROM PUBLIC;

-- MLflow ------------------------------------------------------------------------------------

SELECT format('CREATE ROLE %I NOLOGIN', :'mlflow_role')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'mlflow_role') \gexec
ALTER ROLE :"mlflow_role" NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;

REVOKE ALL ON DATABASE :"mlflow_database" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"mlflow_database" TO :"mlflow_role";

\connect :"mlflow_database"
-- MLflow creates and migrates its own schema when the server starts.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE, CREATE ON SCHEMA public TO :"mlflow_role";
\set new_owner :mlflow_role
\ir postgres-hand-over.sql

-- The app's database -----------------------------------------------------------------------

\if :{?app_role}
SELECT format('CREATE ROLE %I NOLOGIN', :'app_role')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app_role') \gexec
ALTER ROLE :"app_role" NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
SELECT format('CREATE ROLE %I NOLOGIN', :'pipeline_role')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'pipeline_role') \gexec
ALTER ROLE :"pipeline_role" NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;

REVOKE ALL ON DATABASE :"app_database" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"app_database" TO :"app_role", :"pipeline_role";

\connect :"app_database"
-- The app's role creates the tables (its init container runs the migrations).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE, CREATE ON SCHEMA public TO :"app_role";
GRANT USAGE ON SCHEMA public TO :"pipeline_role";
REVOKE CREATE ON SCHEMA public FROM :"pipeline_role";
\set new_owner :app_role
\ir postgres-hand-over.sql

-- The pipeline: rows of the tables there are, and of every table a later migration creates
-- (migrations run as the app's role, whose default privileges these are).
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO :"pipeline_role";
REVOKE DELETE, TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA public FROM :"pipeline_role";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :"pipeline_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"app_role" IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE ON TABLES TO :"pipeline_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"app_role" IN SCHEMA public
    REVOKE DELETE, TRUNCATE, REFERENCES, TRIGGER ON TABLES FROM :"pipeline_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"app_role" IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO :"pipeline_role";
\endif

-- Last: logins, with the passwords of the clients' URLs (a changed one is set again). ------

ALTER ROLE :"mlflow_role" LOGIN PASSWORD :'mlflow_password';
\if :{?app_role}
ALTER ROLE :"app_role" LOGIN PASSWORD :'app_password';
ALTER ROLE :"pipeline_role" LOGIN PASSWORD :'pipeline_password';
\endif
