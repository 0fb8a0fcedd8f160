"""The PostgreSQL roles of SPEC §13: the postgres-grants Job's script, run against a real server
as the Job runs it (twice), and the manifests that feed it the clients' own URLs.

The app's role owns the platform's tables (the app and its migration step use it) and cannot
reach MLflow's database; the pipeline's reads and writes rows and changes no schema; MLflow's owns
MLflow's tables only. An earlier release created everything as the superuser: the script hands it
over. A new cluster runs the script first and the migrations after, as the app's role.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import shutil
import subprocess
import uuid
from base64 import b64decode
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

import psycopg
import pytest

from rps.persistence.database import Database, migrate
from tests.deploy.kube import (
    K8S,
    OVERLAYS,
    Doc,
    container,
    env_entry,
    find,
    pod_spec,
    render,
    secret_examples,
)
from tests.support.postgres import PostgresServer

SCRIPT = K8S / "base" / "postgres-grants.sh"


@dataclass
class Cluster:
    """One server with an app database and MLflow's, and the three clients' URLs."""

    server: PostgresServer
    app_database: str
    mlflow_database: str
    app_role: str
    pipeline_role: str
    mlflow_role: str

    def client_url(self, role: str, database: str, password: str = "0a1b2c") -> str:
        return f"postgresql+psycopg://{role}:{password}@postgres:5432/{database}"

    def urls(self, **passwords: str) -> dict[str, str]:
        return {
            "MLFLOW_DATABASE_URL": self.client_url(
                self.mlflow_role, self.mlflow_database, passwords.get("mlflow", "0a1b2c")
            ),
            "APP_DATABASE_URL": self.client_url(
                self.app_role, self.app_database, passwords.get("app", "0a1b2c")
            ),
            "PIPELINE_DATABASE_URL": self.client_url(
                self.pipeline_role, self.app_database, passwords.get("pipeline", "0a1b2c")
            ),
        }

    def grant(self, urls: dict[str, str]) -> subprocess.CompletedProcess[str]:
        """postgres-grants.sh as the Job runs it: the superuser in PG*, the URLs beside."""
        psql = shutil.which("psql")
        assert psql, "psql (the PostgreSQL client) is needed to run the grants script"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env |= {
            "PGHOST": self.server.host,
            "PGPORT": str(self.server.port),
            "PGUSER": self.server.user,
            "PGDATABASE": "postgres",
            **urls,
        }
        return subprocess.run(
            ["sh", str(SCRIPT)], env=env, capture_output=True, text=True, check=False
        )

    def connect(self, role: str, database: str) -> psycopg.Connection[Any]:
        # The test server trusts every login, so this checks roles and privileges, not passwords.
        return psycopg.connect(
            host=self.server.host,
            port=self.server.port,
            user=role,
            dbname=database,
            autocommit=True,
            connect_timeout=5,
        )

    def as_superuser(self, database: str) -> psycopg.Connection[Any]:
        return self.connect(self.server.user, database)

    def migrate_as(self, role: str) -> None:
        url = f"postgresql+psycopg://{role}@{self.server.host}:{self.server.port}/"
        db = Database(url + self.app_database)
        try:
            migrate(db)
        finally:
            db.dispose()


@pytest.fixture
def cluster(postgres_server: PostgresServer) -> Iterator[Cluster]:
    # Roles belong to the whole server, which the session shares: every test gets its own names.
    tag = uuid.uuid4().hex[:8]
    cluster = Cluster(
        postgres_server, f"rps_{tag}", f"mlflow_{tag}", f"app_{tag}", f"pipe_{tag}", f"mlf_{tag}"
    )
    postgres_server.create_database(cluster.app_database)
    postgres_server.create_database(cluster.mlflow_database)
    yield cluster
    with cluster.as_superuser("postgres") as conn:
        for database in (cluster.app_database, cluster.mlflow_database):
            conn.execute(f'DROP DATABASE "{database}" WITH (FORCE)')
        for role in (cluster.app_role, cluster.pipeline_role, cluster.mlflow_role):
            conn.execute(f'DROP ROLE IF EXISTS "{role}"')
        # The script closes the server's own database to everyone; the session shares it.
        conn.execute("GRANT CONNECT, TEMPORARY ON DATABASE postgres TO PUBLIC")


def _refused(conn: psycopg.Connection[Any], statement: str) -> bool:
    try:
        conn.execute(statement)
    except psycopg.errors.InsufficientPrivilege:
        return True
    return False


def _cannot_connect(cluster: Cluster, role: str, database: str) -> bool:
    try:
        cluster.connect(role, database).close()
    except psycopg.OperationalError as exc:
        return "permission denied for database" in str(exc)
    return False


def _owners(conn: psycopg.Connection[Any]) -> set[str]:
    rows = conn.execute(
        "SELECT DISTINCT pg_get_userbyid(c.relowner) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'S')"
    ).fetchall()
    return {owner for (owner,) in rows}


def _assignment(conn: psycopg.Connection[Any], version: str) -> None:
    conn.execute(
        "INSERT INTO model_assignments (model_type, alias, version, assigned_at, assigned_by) "
        "VALUES ('xgboost', 'Production', %s, %s, 'test')",
        (version, datetime.now(UTC)),
    )


def _check_roles(cluster: Cluster) -> None:
    app_db, mlflow_db = cluster.app_database, cluster.mlflow_database
    with cluster.as_superuser("postgres") as conn:
        attributes = conn.execute(
            "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolcanlogin FROM pg_roles "
            "WHERE rolname IN (%s, %s, %s)",
            (cluster.app_role, cluster.pipeline_role, cluster.mlflow_role),
        ).fetchall()
    assert sorted(attributes) == sorted(
        (role, False, False, False, True)
        for role in (cluster.app_role, cluster.pipeline_role, cluster.mlflow_role)
    )

    with cluster.connect(cluster.app_role, app_db) as app:
        assert _owners(app) == {cluster.app_role}
        _assignment(app, "1")
        app.execute("UPDATE model_assignments SET reason = 'checked' WHERE version = '1'")
        assert app.execute("SELECT count(*) FROM model_assignments").fetchone() == (1,)
    assert _cannot_connect(cluster, cluster.app_role, mlflow_db)
    assert _cannot_connect(cluster, cluster.app_role, "postgres")

    with cluster.connect(cluster.pipeline_role, app_db) as pipeline:
        _assignment(pipeline, "2")
        pipeline.execute("UPDATE model_assignments SET reason = 'checked' WHERE version = '2'")
        assert pipeline.execute("SELECT count(*) FROM games").fetchone() == (0,)
        assert _refused(pipeline, "DELETE FROM model_assignments")
        assert _refused(pipeline, "TRUNCATE games CASCADE")
        assert _refused(pipeline, "CREATE TABLE intruder (id int)")
        assert _refused(pipeline, "DROP TABLE rounds")
        assert _refused(pipeline, "ALTER TABLE games ADD COLUMN intruder int")
    assert _cannot_connect(cluster, cluster.pipeline_role, mlflow_db)

    with cluster.connect(cluster.mlflow_role, mlflow_db) as mlflow:
        assert _owners(mlflow) == {cluster.mlflow_role}
        mlflow.execute("INSERT INTO experiments (name) VALUES ('rps-bot')")
    assert _cannot_connect(cluster, cluster.mlflow_role, app_db)


@pytest.mark.postgres
def test_grants_hand_an_earlier_releases_tables_to_their_roles_and_run_again_unchanged(
    cluster: Cluster,
) -> None:
    # An earlier release: everything created by the superuser.
    cluster.migrate_as(cluster.server.user)
    with cluster.as_superuser(cluster.mlflow_database) as conn:
        conn.execute("CREATE TYPE lifecycle AS ENUM ('active', 'deleted')")
        conn.execute(
            "CREATE TABLE experiments (experiment_id serial PRIMARY KEY, name text, "
            "stage lifecycle DEFAULT 'active')"
        )

    first = cluster.grant(cluster.urls())
    assert first.returncode == 0, first.stderr
    second = cluster.grant(cluster.urls())
    assert second.returncode == 0, second.stderr
    assert second.stderr == ""
    _check_roles(cluster)
    # The app's role keeps migrating: it owns what it migrates.
    cluster.migrate_as(cluster.app_role)


@pytest.mark.postgres
def test_on_a_new_cluster_the_app_role_migrates_and_the_pipeline_gets_the_new_tables(
    cluster: Cluster,
) -> None:
    result = cluster.grant(cluster.urls())
    assert result.returncode == 0, result.stderr
    # What the app's init container does once its role may log in.
    cluster.migrate_as(cluster.app_role)
    with cluster.as_superuser(cluster.mlflow_database) as conn:
        conn.execute("SET ROLE " + cluster.mlflow_role)  # MLflow creates its own schema
        conn.execute("CREATE TABLE experiments (experiment_id serial PRIMARY KEY, name text)")
    _check_roles(cluster)


def _is_password(stored: str, password: str) -> bool:
    """Whether a SCRAM-SHA-256 verifier (pg_authid.rolpassword) is that of ``password``
    (RFC 5802; hex passwords need no SASLprep)."""
    scheme, rest = stored.split("$", 1)
    assert scheme == "SCRAM-SHA-256", stored
    iterations_salt, keys = rest.split("$")
    iterations, salt = iterations_salt.split(":")
    stored_key, server_key = keys.split(":")
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), b64decode(salt), int(iterations))
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    return hashlib.sha256(client_key).digest() == b64decode(stored_key) and hmac.digest(
        salted, b"Server Key", "sha256"
    ) == b64decode(server_key)


@pytest.mark.postgres
def test_each_role_logs_in_with_the_password_of_its_url_and_a_changed_one_is_set_again(
    cluster: Cluster,
) -> None:
    def verifier(role: str) -> str:
        with cluster.as_superuser("postgres") as conn:
            row = conn.execute(
                "SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,)
            ).fetchone()
        assert row is not None, role
        assert row[0] is not None, f"{role} has no password"
        return str(row[0])

    passwords = {"app": "0a1b2c", "pipeline": "3d4e5f", "mlflow": "6a7b8c"}
    assert cluster.grant(cluster.urls(**passwords)).returncode == 0
    roles = {
        "app": cluster.app_role,
        "pipeline": cluster.pipeline_role,
        "mlflow": cluster.mlflow_role,
    }
    for client, role in roles.items():
        assert _is_password(verifier(role), passwords[client]), client
        assert not _is_password(verifier(role), "wrong"), client

    rotated = cluster.grant(cluster.urls(**{**passwords, "app": "9f8e7d"}))
    assert rotated.returncode == 0, rotated.stderr
    assert _is_password(verifier(cluster.app_role), "9f8e7d")
    assert _is_password(verifier(cluster.pipeline_role), passwords["pipeline"])


@pytest.mark.parametrize(
    ("urls", "message"),
    [
        (
            {"APP_DATABASE_URL": "postgresql+psycopg://postgres:0a1b@postgres:5432/rps"},
            "connects as the superuser postgres",
        ),
        (
            {"APP_DATABASE_URL": "postgresql+psycopg://rps_app:p%40ss@postgres:5432/rps"},
            "URL-safe password",
        ),
        (
            {"PIPELINE_DATABASE_URL": "postgresql+psycopg://rps_pipeline:0a1b@postgres:5432/x"},
            "must use one database",
        ),
        (
            {
                "APP_DATABASE_URL": "postgresql+psycopg://rps_app:0a1b@postgres:5432/mlflow",
                "PIPELINE_DATABASE_URL": "postgresql+psycopg://rps_pipeline:0a1b@postgres/mlflow",
            },
            "must not be MLflow's",
        ),
        ({"PIPELINE_DATABASE_URL": ""}, "come together"),
        ({"MLFLOW_DATABASE_URL": "postgres:5432/mlflow"}, "MLFLOW_DATABASE_URL must look like"),
    ],
)
def test_grants_refuse_urls_that_would_break_least_privilege(
    urls: dict[str, str], message: str
) -> None:
    """Checked before the server is even asked, so a bad Secret changes nothing."""
    good = {
        "MLFLOW_DATABASE_URL": "postgresql+psycopg://mlflow:0a1b@postgres:5432/mlflow",
        "APP_DATABASE_URL": "postgresql+psycopg://rps_app:0a1b@postgres:5432/rps",
        "PIPELINE_DATABASE_URL": "postgresql+psycopg://rps_pipeline:0a1b@postgres:5432/rps",
    }
    env = {"PATH": os.environ["PATH"], "PGUSER": "postgres", **good, **urls}
    env = {k: v for k, v in env.items() if v}
    result = subprocess.run(
        ["sh", str(SCRIPT)], env=env, capture_output=True, text=True, check=False, timeout=30
    )
    assert result.returncode == 2, result.stderr
    assert message in result.stderr


# The manifests: the Job reads the URLs the clients themselves use, and the clients wait for it.


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> tuple[str, list[Doc]]:
    name: str = request.param
    return name, render(K8S / "overlays" / name)


def _secret_of(c: Doc, variable: str) -> tuple[str, str] | None:
    entry = env_entry(c, variable)
    if entry is None:
        return None
    ref = entry["valueFrom"]["secretKeyRef"]
    return ref["name"], ref["key"]


def test_the_grants_job_reads_the_very_urls_its_clients_connect_with(
    overlay: tuple[str, list[Doc]],
) -> None:
    name, docs = overlay
    job = pod_spec(find(docs, "Job", "postgres-grants"))
    psql = container(job, "psql")
    assert psql["command"] == ["/bin/sh", "/config/postgres-grants.sh"]
    config = next(v for v in job["volumes"] if v["name"] == "config")
    files = find(docs, "ConfigMap", config["configMap"]["name"])["data"]
    assert {"postgres-grants.sh", "postgres-grants.sql", "postgres-hand-over.sql"} <= set(files)
    assert _secret_of(psql, "PGUSER") == ("rps-postgres", "POSTGRES_USER")

    mlflow_spec = pod_spec(find(docs, "Deployment", "mlflow"))
    mlflow_store = _secret_of(container(mlflow_spec, "mlflow"), "MLFLOW_BACKEND_STORE_URI")
    assert _secret_of(psql, "MLFLOW_DATABASE_URL") == mlflow_store
    assert _secret_of(container(mlflow_spec, "wait-for-database"), "MLFLOW_BACKEND_STORE_URI") == (
        mlflow_store
    )

    app_spec = pod_spec(find(docs, "Deployment", "rps-app"))
    trainer = container(pod_spec(find(docs, "CronJob", "rps-trainer")), "trainer")
    if name == "single-node":
        assert _secret_of(psql, "APP_DATABASE_URL") is None, "the games are in SQLite here"
        assert _secret_of(psql, "PIPELINE_DATABASE_URL") is None
        return
    app_url = _secret_of(container(app_spec, "app"), "DATABASE_URL")
    assert _secret_of(psql, "APP_DATABASE_URL") == app_url
    assert _secret_of(container(app_spec, "wait-for-database"), "DATABASE_URL") == app_url
    assert _secret_of(psql, "PIPELINE_DATABASE_URL") == _secret_of(trainer, "DATABASE_URL")
    names = [c["name"] for c in app_spec["initContainers"]]
    assert names == ["wait-for-database", "migrate"], "the migration waits for its role"


def test_the_example_secrets_give_each_client_its_own_role() -> None:
    examples = secret_examples()
    superuser = examples["rps-postgres"]["POSTGRES_USER"]
    urls = {
        "mlflow": examples["rps-mlflow-credentials"]["MLFLOW_BACKEND_STORE_URI"],
        "app": examples["rps-app-credentials"]["DATABASE_URL"],
        "pipeline": examples["rps-pipeline-credentials"]["DATABASE_URL"],
    }
    roles = {client: urlparse(url).username for client, url in urls.items()}
    assert len(set(roles.values())) == 3
    assert superuser not in roles.values()
    assert (
        urlparse(urls["app"]).path
        == urlparse(urls["pipeline"]).path
        != (urlparse(urls["mlflow"]).path)
    )
