"""The Kubernetes overlays of SPEC §13, rendered as `kubectl apply -k` would apply them.

Every rendered object is validated strictly (unknown fields are errors) against the schemas of
Kubernetes 1.30 that kubernetes-validate ships, offline; then the properties operators rely on are
checked on the objects themselves.
"""

from __future__ import annotations

import re
import subprocess
from urllib.parse import urlparse

import kubernetes_validate
import pytest
from kubernetes_validate.utils import SchemaNotFoundError

from tests.deploy.kube import (
    K8S,
    NAMESPACE,
    OVERLAYS,
    REPO,
    Doc,
    config_map_env,
    container,
    containers,
    effective_env,
    env_entry,
    find,
    host_allowed,
    ingress_routes,
    label,
    of_kind,
    pod_resources,
    pod_spec,
    render,
    replicas,
    secret_example_docs,
    secret_examples,
    secret_refs,
    workloads,
)

# The oldest Kubernetes the manifests promise to work on (CronJob timeZone, autoscaling/v2 and
# policy/v1 are all GA there).
KUBERNETES_VERSION = "1.30.0"

ADMIN_PATHS = (
    "/models/reload",
    "/internal/promotion/report",
    "/debug",
    "/predict",
    "/predict-with-policy",
    "/predict/batch",
    "/metrics",
)
PUBLIC_PATHS = (
    "/",
    "/ui-lite",
    "/ui-lite-debug",
    "/ops",
    "/ops/summary",
    "/docs",
    "/openapi.json",
    "/static/css/app.css",
    "/start_game",
    "/play",
    "/round_points",
    "/games",
    "/games/0b6c3d1e-0000-0000-0000-000000000000",
    "/policies",
    "/stats",
    "/stats/global",
    "/stats/policy/brian",
    "/leaderboard",
    "/bot_win_rates",
    "/win_streaks",
    "/models/status",
    "/internal/promotion/history",
    "/healthz",
)


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> tuple[str, list[Doc]]:
    name: str = request.param
    return name, render(K8S / "overlays" / name)


@pytest.fixture(scope="module")
def single_node() -> list[Doc]:
    return render(K8S / "overlays" / "single-node")


@pytest.fixture(scope="module")
def scale_out() -> list[Doc]:
    return render(K8S / "overlays" / "scale-out")


def _validation_errors(docs: list[Doc]) -> list[str]:
    errors = []
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            errors.append(f"{label(doc)}: {path}: {exc.message}")
        except SchemaNotFoundError as exc:
            # The command-line tool only warns here; an object nobody can check is a failure.
            errors.append(f"{label(doc)}: {exc.message}")
    return errors


def test_every_rendered_object_passes_strict_schema_validation(
    overlay: tuple[str, list[Doc]],
) -> None:
    name, docs = overlay
    assert docs, f"{name} rendered nothing"
    assert _validation_errors(docs) == []


def test_secret_examples_are_valid_secrets_that_no_overlay_renders(
    overlay: tuple[str, list[Doc]],
) -> None:
    _, docs = overlay
    assert of_kind(docs, "Secret") == [], "credentials must never be part of the manifests"
    examples = secret_example_docs()
    assert {d["kind"] for d in examples} == {"Secret"}
    assert _validation_errors(examples) == []


def test_everything_lands_in_mlops_poc_under_the_original_names(
    overlay: tuple[str, list[Doc]],
) -> None:
    _, docs = overlay
    find(docs, "Namespace", NAMESPACE)
    for kind, name in [
        ("Deployment", "rps-app"),
        ("Service", "rps-app"),
        ("Ingress", "rps-app"),
        ("CronJob", "rps-trainer"),
        ("CronJob", "rps-promoter"),
        ("CronJob", "rps-persona-gameplay"),
        ("Deployment", "minio"),
        ("Service", "minio"),
        ("PersistentVolumeClaim", "minio-data"),
        ("Job", "minio-setup"),
        ("Job", "postgres-grants"),
        ("NetworkPolicy", "default-deny"),
        ("StatefulSet", "postgres"),
        ("Service", "postgres"),
        ("Deployment", "mlflow"),
        ("Service", "mlflow"),
    ]:
        find(docs, kind, name)
    elsewhere = [
        label(d)
        for d in docs
        if d["kind"] != "Namespace" and d["metadata"]["namespace"] != NAMESPACE
    ]
    assert elsewhere == []


def test_app_migrates_in_an_init_container_then_serves_on_port_8000(
    overlay: tuple[str, list[Doc]],
) -> None:
    _, docs = overlay
    spec = pod_spec(find(docs, "Deployment", "rps-app"))
    migrate = container(spec, "migrate")
    app = container(spec, "app")
    # The last step before the app: anything earlier only waits (for the database's login).
    assert spec["initContainers"][-1] is migrate
    assert migrate["command"] == ["rps", "migrate"]
    assert migrate["image"] == app["image"]
    # Same settings, so the migration reaches the database the app then uses.
    assert migrate["envFrom"] == app["envFrom"]
    assert env_entry(migrate, "DATABASE_URL") == env_entry(app, "DATABASE_URL")
    command = " ".join(app["command"] + app["args"])
    assert "exec rps serve --host 0.0.0.0 --port 8000" in command
    assert [p["containerPort"] for p in app["ports"]] == [8000]


def test_app_probes_liveness_on_healthz_and_readiness_on_ready(
    overlay: tuple[str, list[Doc]],
) -> None:
    _, docs = overlay
    app = container(pod_spec(find(docs, "Deployment", "rps-app")), "app")
    ports = {p["name"]: p["containerPort"] for p in app["ports"]}
    probes = {
        kind: (app[kind]["httpGet"]["path"], ports[app[kind]["httpGet"]["port"]])
        for kind in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    assert probes == {
        "startupProbe": ("/healthz", 8000),
        "livenessProbe": ("/healthz", 8000),
        "readinessProbe": ("/ready", 8000),
    }
    service = find(docs, "Service", "rps-app")
    assert service["spec"]["selector"].items() <= (
        find(docs, "Deployment", "rps-app")["spec"]["template"]["metadata"]["labels"].items()
    )


def test_every_pod_is_non_root_read_only_and_bounded(overlay: tuple[str, list[Doc]]) -> None:
    """What the namespace's "restricted" Pod Security level admits, plus resources everywhere."""
    _, docs = overlay
    namespace = find(docs, "Namespace", NAMESPACE)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    problems = []
    for doc in workloads(docs):
        spec = pod_spec(doc)
        pod = spec.get("securityContext", {})
        if pod.get("runAsNonRoot") is not True or pod.get("seccompProfile", {}).get("type") != (
            "RuntimeDefault"
        ):
            problems.append(f"{label(doc)}: pod must set runAsNonRoot and RuntimeDefault seccomp")
        if spec.get("automountServiceAccountToken") is not False:
            problems.append(f"{label(doc)}: mounts a service account token it never uses")
        for c in containers(spec):
            where = f"{label(doc)} {c['name']}"
            sc = c.get("securityContext", {})
            if sc.get("runAsUser", pod.get("runAsUser")) in (None, 0):
                problems.append(f"{where}: no non-zero runAsUser")
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: allowPrivilegeEscalation must be false")
            if sc.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: root file system must be read-only")
            if sc.get("capabilities", {}).get("drop") != ["ALL"]:
                problems.append(f"{where}: must drop all capabilities")
            for kind in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if resource not in c.get("resources", {}).get(kind, {}):
                        problems.append(f"{where}: no {resource} {kind}")
    assert problems == []


def test_no_pod_gets_service_link_variables(overlay: tuple[str, list[Doc]]) -> None:
    # The Service "mlflow" would give every pod MLFLOW_PORT=tcp://…, which `mlflow server` and
    # MLflow's client read as settings of their own.
    _, docs = overlay
    linked = [
        label(d) for d in workloads(docs) if pod_spec(d).get("enableServiceLinks") is not False
    ]
    assert linked == []


def test_app_has_writable_tmp_and_prometheus_multiprocess_dirs(
    overlay: tuple[str, list[Doc]],
) -> None:
    _, docs = overlay
    deployment = find(docs, "Deployment", "rps-app")
    spec = pod_spec(deployment)
    app = container(spec, "app")
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: volumes[m["name"]] for m in app["volumeMounts"]}
    metrics_dir = effective_env(docs, app)["PROMETHEUS_MULTIPROC_DIR"]
    assert "emptyDir" in mounts["/tmp"]
    assert "emptyDir" in mounts[metrics_dir]
    assert mounts[metrics_dir] is not mounts["/tmp"]
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "8000",
        "prometheus.io/path": "/metrics",
    }


def test_credentials_come_from_secrets_whose_keys_the_example_defines(
    overlay: tuple[str, list[Doc]],
) -> None:
    _, docs = overlay
    examples = secret_examples()
    refs = list(secret_refs(docs))
    assert refs, "the workloads must read their credentials from Secrets"
    undefined = [r for r in refs if r.key not in examples.get(r.secret, {})]
    assert undefined == [], "every referenced key must be in secrets.example.yaml"
    secret_like = re.compile(r"PASSWORD|SECRET|TOKEN|ACCESS_KEY|BACKEND_STORE_URI")
    in_plain_sight = [
        f"{label(d)} {c['name']} {name}"
        for d in workloads(docs)
        for c in containers(pod_spec(d))
        for name in effective_env(docs, c)
        if secret_like.search(name)
    ]
    assert in_plain_sight == []
    for name in ("RPS_ADMIN_TOKEN", "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY"):
        app = container(pod_spec(find(docs, "Deployment", "rps-app")), "app")
        entry = env_entry(app, name)
        assert entry is not None, name
        assert "secretKeyRef" in entry["valueFrom"], name


def test_ingress_routes_what_players_use_and_no_admin_path(
    overlay: tuple[str, list[Doc]],
) -> None:
    _, docs = overlay
    ingress = find(docs, "Ingress", "rps-app")
    backends = {
        (p["backend"]["service"]["name"], p["backend"]["service"]["port"]["name"])
        for rule in ingress["spec"]["rules"]
        for p in rule["http"]["paths"]
    }
    assert backends == {("rps-app", "http")}
    assert [p for p in ADMIN_PATHS if ingress_routes(ingress, p)] == []
    assert [p for p in PUBLIC_PATHS if not ingress_routes(ingress, p)] == []


def test_every_path_the_web_pages_request_passes_the_ingress(single_node: list[Doc]) -> None:
    """A page whose API call the Ingress does not route would work locally and break deployed."""
    ingress = find(single_node, "Ingress", "rps-app")
    web = REPO / "src" / "rps" / "web"
    sources = [*web.rglob("*.js"), *web.rglob("*.html")]
    assert sources, "the web UI's files are missing"
    quoted_path = re.compile(r"""(?<=["'`])/[A-Za-z_][A-Za-z0-9_./-]*""")
    paths = {m.group(0) for f in sources for m in quoted_path.finditer(f.read_text())}
    assert {"/play", "/start_game"} <= paths, "the path scan no longer finds the game's calls"
    assert sorted(p for p in paths if not ingress_routes(ingress, p)) == []


def test_cronjobs_never_run_twice_at_once(overlay: tuple[str, list[Doc]]) -> None:
    _, docs = overlay
    cronjobs = of_kind(docs, "CronJob")
    assert {c["metadata"]["name"] for c in cronjobs} == {
        "rps-trainer",
        "rps-promoter",
        "rps-persona-gameplay",
    }
    assert {c["metadata"]["name"]: c["spec"]["concurrencyPolicy"] for c in cronjobs} == {
        "rps-trainer": "Forbid",
        "rps-promoter": "Forbid",
        "rps-persona-gameplay": "Forbid",
    }


def test_trainer_runs_scheduled_training_from_the_trainer_image(
    overlay: tuple[str, list[Doc]],
) -> None:
    _, docs = overlay
    trainer = container(pod_spec(find(docs, "CronJob", "rps-trainer")), "trainer")
    app = container(pod_spec(find(docs, "Deployment", "rps-app")), "app")
    assert trainer["command"] == ["rps", "train-scheduled"]
    assert trainer["image"].split(":")[0].endswith("rps-trainer")
    # The app's database (as a role of its own under scale-out: test_least_privilege.py).
    assert _database_of(docs, trainer) == _database_of(docs, app)
    settings = effective_env(docs, trainer)
    assert settings["APP_URL"] == "http://rps-app:8000", "the trainer asks the app to reload"
    assert settings["MODEL_CACHE_URI"] == effective_env(docs, app)["MODEL_CACHE_URI"]


def _database_of(docs: list[Doc], c: Doc) -> tuple[str | None, str]:
    """Where a container's DATABASE_URL points (scheme, host, port, database), whoever it is."""
    ref = (env_entry(c, "DATABASE_URL") or {}).get("valueFrom", {}).get("secretKeyRef")
    if ref is None:
        return None, effective_env(docs, c)["DATABASE_URL"]
    url = urlparse(secret_examples()[ref["name"]][ref["key"]])
    return url.scheme, f"{url.hostname}:{url.port}{url.path}"


def _data_volume(spec: Doc, c: Doc) -> Doc:
    mount = next(m for m in c["volumeMounts"] if m["mountPath"] == "/data")
    volume: Doc = next(v for v in spec["volumes"] if v["name"] == mount["name"])
    return volume


def test_promoter_runs_promotion_every_ten_minutes_like_the_trainer(
    overlay: tuple[str, list[Doc]],
) -> None:
    """SPEC §7, §13: promotion on its own schedule, with the trainer's image, data and stores."""
    _, docs = overlay
    cronjob = find(docs, "CronJob", "rps-promoter")
    assert cronjob["spec"]["schedule"] == "*/10 * * * *"
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    spec = pod_spec(cronjob)
    promoter = container(spec, "promoter")
    trainer_spec = pod_spec(find(docs, "CronJob", "rps-trainer"))
    trainer = container(trainer_spec, "trainer")
    assert promoter["command"] == ["rps", "promote"]
    assert promoter["image"] == trainer["image"]
    assert promoter["image"].split(":")[0].endswith("rps-trainer")
    # Whatever an overlay does to the trainer's settings and credentials (the database URL of
    # scale-out), it does to the promoter's.
    assert promoter["env"] == trainer["env"]
    assert promoter["envFrom"] == trainer["envFrom"]
    # The same database volume: on single-node the SQLite file (and the alias lock beside it).
    assert _data_volume(spec, promoter).get("persistentVolumeClaim") == _data_volume(
        trainer_spec, trainer
    ).get("persistentVolumeClaim")
    settings = effective_env(docs, promoter)
    assert settings["APP_URL"] == "http://rps-app:8000", "the promoter asks the app to reload"
    # It writes the serving cache and reloads the app: the credentials come from Secrets.
    for name in ("RPS_ADMIN_TOKEN", "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY"):
        assert "secretKeyRef" in (env_entry(promoter, name) or {}).get("valueFrom", {}), name


def test_persona_gameplay_plays_over_http_against_the_app_service(
    overlay: tuple[str, list[Doc]],
) -> None:
    _, docs = overlay
    simulate = container(pod_spec(find(docs, "CronJob", "rps-persona-gameplay")), "simulate")
    assert simulate["command"][:4] == ["rps", "simulate", "--via", "$(APP_URL)"]
    app_url = urlparse(effective_env(docs, simulate)["APP_URL"])
    service = find(docs, "Service", app_url.hostname or "")
    assert app_url.port in [p["port"] for p in service["spec"]["ports"]]
    assert service["spec"]["selector"]["app.kubernetes.io/name"] == "rps-app"
    assert "secretKeyRef" in (env_entry(simulate, "RPS_ADMIN_TOKEN") or {}).get("valueFrom", {})


def test_every_image_is_pinned_to_a_version(overlay: tuple[str, list[Doc]]) -> None:
    _, docs = overlay
    images = {c["image"] for d in workloads(docs) for c in containers(pod_spec(d))}
    unpinned = [
        image
        for image in images
        if ":" not in image.rsplit("/", 1)[-1]
        or image.endswith(":latest")
        or not re.search(r":[^:]*\d", image)
    ]
    assert unpinned == []
    assert {i.split(":")[0] for i in images} >= {"rps-app", "rps-trainer"}


def test_minio_buckets_are_private_and_created_by_the_setup_job(
    overlay: tuple[str, list[Doc]],
) -> None:
    _, docs = overlay
    job_spec = pod_spec(find(docs, "Job", "minio-setup"))
    mc = container(job_spec, "mc")
    assert mc["image"].startswith("quay.io/minio/mc:RELEASE.")
    config = next(v for v in job_spec["volumes"] if v["name"] == "config")
    files = find(docs, "ConfigMap", config["configMap"]["name"])["data"]
    script = files["minio-setup.sh"]
    assert mc["command"] == ["/bin/sh", "/config/minio-setup.sh"]
    buckets = set(effective_env(docs, mc)["BUCKETS"].split())

    app = container(pod_spec(find(docs, "Deployment", "rps-app")), "app")
    cache_bucket = urlparse(effective_env(docs, app)["MODEL_CACHE_URI"]).netloc
    mlflow = container(pod_spec(find(docs, "Deployment", "mlflow")), "mlflow")
    artifacts = next(a for a in mlflow["args"] if a.startswith("--artifacts-destination="))
    artifact_bucket = urlparse(artifacts.split("=", 1)[1]).netloc
    assert buckets == {cache_bucket, artifact_bucket}

    assert 'mc anonymous set none "$target/$bucket"' in script
    assert re.search(r"anonymous set(-json)? (download|upload|public)", script) is None
    assert "mc mb --ignore-existing" in script
    # Each client's policy names its bucket (which one, and what it may do there:
    # test_least_privilege.py); together they cover the buckets, and nothing else.
    policies = [text for name, text in files.items() if name.endswith(".json")]
    named = {b for text in policies for b in re.findall(r"arn:aws:s3:::([a-z0-9-]+)", text)}
    assert named == buckets
    syntax = subprocess.run(["sh", "-n"], input=script, capture_output=True, text=True, check=False)
    assert syntax.returncode == 0, syntax.stderr


def test_mlflow_server_keeps_runs_in_postgres_and_artifacts_in_minio(
    overlay: tuple[str, list[Doc]],
) -> None:
    _, docs = overlay
    spec = pod_spec(find(docs, "Deployment", "mlflow"))
    mlflow = container(spec, "mlflow")
    assert mlflow["command"] == ["mlflow", "server"]
    assert mlflow["image"].split(":")[0].endswith("rps-trainer"), "full mlflow lives there"
    args = dict(a.removeprefix("--").split("=", 1) for a in mlflow["args"] if "=" in a)
    assert args["artifacts-destination"].startswith("s3://")
    assert "--serve-artifacts" in mlflow["args"]

    store = (env_entry(mlflow, "MLFLOW_BACKEND_STORE_URI") or {})["valueFrom"]["secretKeyRef"]
    example = urlparse(secret_examples()[store["name"]][store["key"]])
    assert (example.scheme, example.hostname, example.path) == (
        "postgresql+psycopg",
        "postgres",
        "/mlflow",
    )
    assert find(docs, "StatefulSet", "postgres")
    postgres_env = container(pod_spec(find(docs, "StatefulSet", "postgres")), "postgres")
    assert effective_env(docs, postgres_env)["POSTGRES_DB"] == "mlflow"

    env = effective_env(docs, mlflow)
    app = container(pod_spec(find(docs, "Deployment", "rps-app")), "app")
    assert env["MLFLOW_S3_ENDPOINT_URL"] == effective_env(docs, app)["MINIO_ENDPOINT"]
    tracking = urlparse(effective_env(docs, app)["MLFLOW_TRACKING_URI"])
    assert tracking.hostname == "mlflow"
    patterns = args["allowed-hosts"].split(",")
    assert host_allowed(patterns, tracking.netloc), "MLflow would answer the app with 403"
    assert host_allowed(patterns, f"mlflow.{NAMESPACE}.svc.cluster.local:5000")
    assert not host_allowed(patterns, "evil.example.com")
    assert mlflow["livenessProbe"]["httpGet"]["path"] == "/health"


def test_single_node_keeps_one_app_replica_on_sqlite_in_its_volume(
    single_node: list[Doc],
) -> None:
    deployment = find(single_node, "Deployment", "rps-app")
    assert replicas(deployment) == 1
    assert of_kind(single_node, "HorizontalPodAutoscaler") == []
    find(single_node, "PersistentVolumeClaim", "rps-data")
    for doc, name in [
        (deployment, "app"),
        (find(single_node, "CronJob", "rps-trainer"), "trainer"),
        (find(single_node, "CronJob", "rps-promoter"), "promoter"),
    ]:
        spec = pod_spec(doc)
        c = container(spec, name)
        env = effective_env(single_node, c)
        assert env["DATABASE_URL"] == "sqlite:////data/rps.db"
        data = next(m for m in c["volumeMounts"] if m["mountPath"] == "/data")
        volume = next(v for v in spec["volumes"] if v["name"] == data["name"])
        assert volume == {"name": "data", "persistentVolumeClaim": {"claimName": "rps-data"}}


def _budget(docs: list[Doc]) -> dict[str, float]:
    """Requests and limits of everything that can run at once (CronJobs forbid overlap)."""
    totals = {}
    for kind in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            totals[f"{resource} {kind}"] = sum(
                pod_resources(pod_spec(d), kind, resource) * replicas(d) for d in workloads(docs)
            )
    return totals


def test_single_node_fits_a_4_gib_node(single_node: list[Doc]) -> None:
    gib = 2**30
    budget = _budget(single_node)
    # A quarter of the node stays with the operating system and k3s.
    assert budget["memory requests"] <= 3 * gib
    # Even if every container grew to its limit at the same moment, the node would hold them.
    assert budget["memory limits"] <= 4 * gib
    assert budget["cpu requests"] <= 2.0


def test_scale_out_runs_several_replicas_on_postgres_with_an_autoscaler(
    scale_out: list[Doc],
) -> None:
    deployment = find(scale_out, "Deployment", "rps-app")
    assert replicas(deployment) >= 2
    hpa = find(scale_out, "HorizontalPodAutoscaler", "rps-app")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "rps-app",
    }
    assert 2 <= hpa["spec"]["minReplicas"] == replicas(deployment) < hpa["spec"]["maxReplicas"]
    assert find(scale_out, "PodDisruptionBudget", "rps-app")["spec"]["minAvailable"] >= 1

    examples = secret_examples()
    spec = pod_spec(deployment)
    users = [(spec, "migrate", "rps_app"), (spec, "app", "rps_app")]
    users.append((pod_spec(find(scale_out, "CronJob", "rps-trainer")), "trainer", "rps_pipeline"))
    users.append((pod_spec(find(scale_out, "CronJob", "rps-promoter")), "promoter", "rps_pipeline"))
    for pod, name, role in users:
        c = container(pod, name)
        ref = (env_entry(c, "DATABASE_URL") or {}).get("valueFrom", {}).get("secretKeyRef")
        assert ref is not None, f"{name}: DATABASE_URL must come from a Secret"
        url = urlparse(examples[ref["name"]][ref["key"]])
        assert (url.scheme, url.username, url.hostname, url.port, url.path) == (
            "postgresql+psycopg",
            role,
            "postgres",
            5432,
            "/rps",
        )
        assert "DATABASE_URL" not in config_map_env(scale_out, c)
    init_sql = "".join(
        text
        for v in pod_spec(find(scale_out, "StatefulSet", "postgres"))["volumes"]
        if "configMap" in v
        for text in find(scale_out, "ConfigMap", v["configMap"]["name"])["data"].values()
    )
    assert "CREATE DATABASE rps;" in init_sql
    # Replicas on several nodes cannot share a ReadWriteOnce volume.
    claims = [v for v in spec["volumes"] if "persistentVolumeClaim" in v]
    assert claims == []
