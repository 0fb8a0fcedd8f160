#!/bin/sh
# Gives each PostgreSQL client of the platform a role of its own (SPEC §13); run by the
# postgres-grants Job from the postgres image, as the superuser. The roles, their passwords and
# their databases are read from the very URLs the clients connect with, so the Secrets and the
# roles cannot disagree:
#
#   MLFLOW_DATABASE_URL    the MLflow server's store (both overlays)
#   APP_DATABASE_URL       the app and its migration step: owner of the platform's tables
#   PIPELINE_DATABASE_URL  the trainer and the promoter: read and write rows, no schema changes
#
# The last two come together or not at all (single-node keeps the games in SQLite). Each is
# postgresql+psycopg://ROLE:PASSWORD@HOST:PORT/DATABASE with a URL-safe password (hex). The
# server is the one PGHOST/PGPORT/PGUSER/PGPASSWORD name. postgres-grants.sql does the work;
# running it again changes nothing, except that changed passwords are set.
set -eu

fail() {
    echo "postgres-grants: $*" >&2
    exit 2
}

# parse_url PREFIX VARIABLE: exports PREFIX_ROLE, PREFIX_PASSWORD and PREFIX_DATABASE from the
# URL in the environment variable VARIABLE.
parse_url() {
    prefix=$1
    name=$2
    eval "url=\${$name}"
    shape="$name must look like postgresql+psycopg://ROLE:PASSWORD@HOST:PORT/DATABASE"
    rest=${url#*://}
    [ "$rest" != "$url" ] || fail "$shape"
    userinfo=${rest%%@*}
    [ "$userinfo" != "$rest" ] || fail "$shape (no ROLE:PASSWORD@)"
    role=${userinfo%%:*}
    password=${userinfo#*:}
    [ "$password" != "$userinfo" ] && [ -n "$password" ] || fail "$shape (no password)"
    location=${rest#*@}
    database=${location#*/}
    [ "$database" != "$location" ] || fail "$shape (no /DATABASE)"
    database=${database%%\?*}
    case "$role" in
        "" | [!a-z_]* | *[!a-z0-9_]*) fail "$name: the role '$role' must be lowercase letters, digits and _" ;;
    esac
    case "$database" in
        "" | [!a-z_]* | *[!a-z0-9_]*) fail "$name: the database '$database' must be lowercase letters, digits and _" ;;
    esac
    case "$password" in
        *%* | *@* | *:* | */*) fail "$name: use a URL-safe password (for example hex), not an encoded one" ;;
    esac
    [ "$role" != "${PGUSER:-}" ] || fail "$name connects as the superuser $role: give it a role of its own"
    export "${prefix}_ROLE=$role" "${prefix}_PASSWORD=$password" "${prefix}_DATABASE=$database"
}

[ -n "${MLFLOW_DATABASE_URL:-}" ] || fail "MLFLOW_DATABASE_URL is not set"
parse_url MLFLOW MLFLOW_DATABASE_URL
if [ -n "${APP_DATABASE_URL:-}" ] || [ -n "${PIPELINE_DATABASE_URL:-}" ]; then
    [ -n "${APP_DATABASE_URL:-}" ] && [ -n "${PIPELINE_DATABASE_URL:-}" ] ||
        fail "APP_DATABASE_URL and PIPELINE_DATABASE_URL come together (the app's database)"
    parse_url APP APP_DATABASE_URL
    parse_url PIPELINE PIPELINE_DATABASE_URL
    [ "$APP_DATABASE" = "$PIPELINE_DATABASE" ] ||
        fail "the app ($APP_DATABASE) and the pipeline ($PIPELINE_DATABASE) must use one database"
    [ "$APP_DATABASE" != "$MLFLOW_DATABASE" ] ||
        fail "the app's database must not be MLflow's ($MLFLOW_DATABASE)"
    [ "$APP_ROLE" != "$PIPELINE_ROLE" ] && [ "$APP_ROLE" != "$MLFLOW_ROLE" ] &&
        [ "$PIPELINE_ROLE" != "$MLFLOW_ROLE" ] ||
        fail "the app, the pipeline and MLflow need three different roles"
fi

attempt=0
until pg_isready --quiet; do
    attempt=$((attempt + 1))
    [ "$attempt" -lt 90 ] || fail "PostgreSQL at ${PGHOST:-localhost} did not answer after $attempt tries"
    echo "waiting for PostgreSQL at ${PGHOST:-localhost} ($attempt)"
    sleep 2
done

psql --no-psqlrc --quiet --set=ON_ERROR_STOP=1 --file="$(dirname "$0")/postgres-grants.sql"
echo "PostgreSQL roles ready: $MLFLOW_ROLE${APP_ROLE:+, $APP_ROLE, $PIPELINE_ROLE}"
