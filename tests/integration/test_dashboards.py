"""The Grafana dashboard, scrape config and alert rules under deploy/ against a real Prometheus.

One app process (with small constant models for two families, none for the third, so both model
and fallback rounds happen) is scraped every second by Debian's ``prometheus``, configured from
the shipped ``prometheus.yml`` and loading the shipped ``alerts.yml``. Games are played after the
first scrape so rates are non-zero, then every PromQL expression of the dashboard is run and must
return data, and every alert rule must read series the app exports.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from rps.domain.policy import Alias, Family
from rps.persistence.database import Database
from rps.persistence.lifecycle_repository import LifecycleRepository
from rps.persistence.strength_repository import StrengthRecord, StrengthRepository
from rps.persistence.tables import alias_predictions
from tests.support.limits import LOAD_SETTINGS
from tests.support.onnx_models import publish_constant_models
from tests.support.server import REPO_ROOT, ServerProcess, free_port

DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "dashboards" / "rps-mlops.json"
PROMETHEUS_DIR = REPO_ROOT / "deploy" / "prometheus"
SCRAPE_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
ALERTS = PROMETHEUS_DIR / "alerts.yml"
ALERT_TESTS = PROMETHEUS_DIR / "alerts_test.yml"
ADMIN_TOKEN = "dashboard-tests-admin-token-0123456789"
_GYM_ALERT = "RpsProductionGymWinRateBelowValueGreedy"
FAMILIES = [f.value for f in Family]
# Families with a model in the serving cache; multinomial_logistic (logan) plays on its fallback.
SERVED = (Family.XGBOOST, Family.FEEDFORWARD_NN)
VERSIONS = {Alias.PRODUCTION: "7", Alias.B: "8", Alias.SHADOW1: "5", Alias.SHADOW2: "6"}
# What Grafana would put in place of its variables; $model is also tried as one concrete family.
GRAFANA_VARIABLES = {
    "__rate_interval": "30s",
    "__interval": "15s",
    "__range": "5m",
    "window": "5m",
    "model": ".*",
}
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")
_RPS_NAME = re.compile(r"(?<![\w\"'])rps_[a-zA-Z0-9_]+")
_HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
_SERIES_SUFFIXES = (
    *((suffix, "histogram") for suffix in _HISTOGRAM_SUFFIXES),
    ("_total", "counter"),
)


# ------------------------------------------------------------------------------------------------
# Reading the shipped files.


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def all_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    for panel in panels:
        yield panel
        yield from all_panels(panel.get("panels", []))


@dataclass(frozen=True)
class Query:
    where: str  # panel title and refId, for messages
    expr: str


def dashboard_queries() -> list[Query]:
    queries = []
    for panel in all_panels(dashboard()["panels"]):
        for target in panel.get("targets", []):
            queries.append(Query(f"{panel['title']!r} {target.get('refId')}", target["expr"]))
    return queries


def annotation_queries() -> list[Query]:
    return [
        Query(f"annotation {a['name']!r}", a["expr"])
        for a in dashboard()["annotations"]["list"]
        if "expr" in a
    ]


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def substitute(expr: str, **overrides: str) -> str:
    """The expression as Grafana sends it, with the test's values for the dashboard variables."""
    values = {**GRAFANA_VARIABLES, **overrides}

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise AssertionError(f"unknown dashboard variable ${name} in {expr!r}")
        return values[name]

    return _VARIABLE.sub(value, expr)


def metric_names(expr: str) -> set[str]:
    """The rps_ series an expression reads (label values in quotes are not names)."""
    without_strings = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    return set(_RPS_NAME.findall(without_strings))


# ------------------------------------------------------------------------------------------------
# A served model set: constant ONNX graphs, so no training is needed.


def publish_models(cache_dir: Path) -> None:
    # Every alias expects rock most, so the bot answers paper and a rock-only player loses.
    publish_constant_models(
        cache_dir,
        {
            (family, alias): ((0.6, 0.25, 0.15), version)
            for family in SERVED
            for alias, version in VERSIONS.items()
        },
    )


# Offline gym figures (holdout part) of some served versions: (family, version) → the bot's,
# value-greedy's and the model-free layer's win rates on the same games. Production's xgboost
# version is weaker than value-greedy, B's was registered below the gate.
GYM = {
    (Family.XGBOOST, VERSIONS[Alias.PRODUCTION]): (0.56, 0.6, 0.59),
    (Family.XGBOOST, VERSIONS[Alias.B]): (0.52, 0.6, 0.59),
    (Family.FEEDFORWARD_NN, VERSIONS[Alias.PRODUCTION]): (0.66, 0.6, 0.62),
}


def record_strength(database_url: str) -> None:
    """What promotion and evaluation would have written: every served alias's assignment and
    the gym figures above."""
    db = Database(database_url)
    try:
        lifecycle = LifecycleRepository(db)
        for family in SERVED:
            for alias, version in VERSIONS.items():
                lifecycle.record_assignment(
                    model_type=family.value,
                    alias=alias.value,
                    version=version,
                    run_id=f"run-{version}",
                    previous_version=None,
                    assigned_by="dashboard-tests",
                )
        strength = StrengthRepository(db)
        for (family, version), (bot, greedy, layer) in GYM.items():
            below_gate = family is Family.XGBOOST and version == VERSIONS[Alias.B]
            strength.add(
                StrengthRecord(
                    model_type=family.value,
                    version=version,
                    run_id=f"run-{version}",
                    source="evaluate",
                    games_per_opponent=20,
                    seed=1,
                    scoring_version="dashboards",
                    holdout_win_rate=bot,
                    training_win_rate=bot,
                    overall_win_rate=bot,
                    holdout_margin=0.1,
                    layer_holdout_win_rate=layer,
                    greedy_holdout_win_rate=greedy,
                    gate_passed=not below_gate,
                    below_gate=below_gate,
                )
            )
    finally:
        db.dispose()


def mean_counterfactual_margins(database_url: str) -> dict[tuple[str, str], float]:
    """Per (family, alias): the mean margin of the rounds the app scored (all with one layer)."""
    db = Database(database_url)
    try:
        with db.read() as conn:
            rows = conn.execute(
                alias_predictions.select().with_only_columns(
                    alias_predictions.c.model_type,
                    alias_predictions.c.alias,
                    alias_predictions.c.scoring_version,
                    alias_predictions.c.counterfactual_margin,
                )
            ).all()
    finally:
        db.dispose()
    assert len({r.scoring_version for r in rows}) == 1, "one decision layer scored every round"
    margins: dict[tuple[str, str], list[float]] = {}
    for row in rows:
        margins.setdefault((row.model_type, row.alias), []).append(row.counterfactual_margin)
    return {key: sum(values) / len(values) for key, values in margins.items()}


# ------------------------------------------------------------------------------------------------
# Prometheus.


def prometheus_binary(name: str) -> str:
    found = shutil.which(name) or (
        f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None
    )
    assert found, (
        f"{name} is missing: install Debian's prometheus package "
        "(`apt-get install prometheus`, which `make test` does as root)"
    )
    return found


def with_file_discovery(config: dict[str, Any], targets_file: Path) -> dict[str, Any]:
    """The config with Kubernetes discovery replaced by discovery from ``targets_file``.

    Debian's prometheus and promtool are built without Kubernetes discovery. The file lists
    targets with the meta labels pod discovery would give them, so the job's relabelling still
    runs in a real Prometheus.
    """
    jobs = []
    for job in config["scrape_configs"]:
        copy = dict(job)
        if copy.pop("kubernetes_sd_configs", None) is not None:
            copy["file_sd_configs"] = [{"files": [str(targets_file)]}]
        jobs.append(copy)
    return {**config, "scrape_configs": jobs}


def pod_targets(app_port: int) -> list[dict[str, Any]]:
    """What pod discovery reports for the app's pod and for a pod that does not want scraping."""

    def pod(name: str, address: str, labels: dict[str, str]) -> dict[str, Any]:
        return {
            "targets": [address],  # the pod IP with its container's first port
            "labels": {
                "__meta_kubernetes_namespace": "mlops-poc",
                "__meta_kubernetes_pod_name": name,
                "__meta_kubernetes_pod_phase": "Running",
                **labels,
            },
        }

    return [
        pod(
            "rps-app-5d8f7-abcde",
            "127.0.0.1:8080",  # the annotation names the port to scrape instead
            {
                "__meta_kubernetes_pod_label_app_kubernetes_io_name": "rps-app",
                "__meta_kubernetes_pod_annotation_prometheus_io_scrape": "true",
                "__meta_kubernetes_pod_annotation_prometheus_io_port": str(app_port),
                "__meta_kubernetes_pod_annotation_prometheus_io_path": "/metrics",
            },
        ),
        pod(
            "postgres-0",
            "10.0.0.9:5432",
            {"__meta_kubernetes_pod_label_app_kubernetes_io_name": "postgres"},
        ),
    ]


def scrape_config_for(root: Path, app_port: int) -> Path:
    """The shipped scrape config pointed at the test's app, scraping and evaluating every second."""
    shipped = yaml.safe_load(SCRAPE_CONFIG.read_text())
    targets_file = root / "pods.json"
    targets_file.write_text(json.dumps(pod_targets(app_port)))
    config = with_file_discovery(shipped, targets_file)
    config["global"] = {
        **config["global"],
        "scrape_interval": "1s",
        "scrape_timeout": "1s",
        "evaluation_interval": "1s",
    }
    config["rule_files"] = [str(ALERTS)]
    for job in config["scrape_configs"]:
        for static in job.get("static_configs", []):
            static["targets"] = [f"127.0.0.1:{app_port}"]
    path = root / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


class Prometheus:
    """A prometheus process on a free port with its storage in a temp dir."""

    def __init__(self, config: Path, storage: Path, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [
                prometheus_binary("prometheus"),
                f"--config.file={config}",
                f"--storage.tsdb.path={storage}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.log_path = log_path

    def api(self, path: str, **params: str) -> Any:
        answer = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=10)
        body = answer.json()
        failure = f"{path} {params}: {answer.status_code} {body.get('error')}"
        assert answer.status_code == 200, failure
        assert body["status"] == "success", failure
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self.api("query", query=expr)
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        result: list[dict[str, Any]] = data["result"]
        return result

    def wait_until(self, what: str, check: Any, timeout_s: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout_s
        last: Any = None
        while time.monotonic() < deadline:
            assert self.process.poll() is None, (
                f"prometheus exited: {self.log_path.read_text()[-2000:]}"
            )
            try:
                last = check()
                if last:
                    return last
            except (httpx.HTTPError, AssertionError, KeyError, ValueError) as exc:
                last = exc
            time.sleep(0.2)
        raise AssertionError(f"prometheus: {what} did not happen within {timeout_s} s ({last})")

    def last_scrape_s(self) -> float:
        """When the oldest of the latest scrapes of the app's targets started."""
        up = self.query('up{job="rps-app"}')
        assert len(up) == 2, f"two app targets (static and pod) expected: {up}"
        assert all(s["value"][1] == "1" for s in up), f"an app target is down: {up}"
        # timestamp() of a plain selector is the scrape's time (of an expression: the query's).
        stamps = self.query('timestamp(up{job="rps-app"})')
        return min(float(s["value"][1]) for s in stamps)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self._log.close()


# ------------------------------------------------------------------------------------------------
# The platform under test.


@dataclass
class Platform:
    server: ServerProcess
    prometheus: Prometheus
    exposition: str  # the app's /metrics after the games
    database_url: str


def play_to_the_end(client: httpx.Client, game_id: str, first_round: int = 1) -> None:
    for round_no in range(first_round, 40):
        answer = client.post(
            "/play", json={"game_id": game_id, "user_move": "rock", "round": round_no}
        )
        assert answer.status_code == 200, answer.text
        if answer.json()["finished"]:
            return
    raise AssertionError(f"game {game_id} did not finish")


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp("dashboards")
    data = root / "data"
    data.mkdir()
    cache = root / "model-cache"
    publish_models(cache)
    env = {
        "DATA_PATH": str(data),
        "DATABASE_URL": f"sqlite:///{data / 'rps.db'}",
        "MLFLOW_TRACKING_URI": f"sqlite:///{data / 'mlflow.db'}",
        "MODEL_CACHE_URI": cache.as_uri(),
        "MODEL_POLL_SECONDS": "0",
        "RPS_ADMIN_TOKEN": ADMIN_TOKEN,
        "LOG_LEVEL": "WARNING",
        **LOAD_SETTINGS,  # the traffic the dashboards show comes from one address
    }
    with ServerProcess(env, log_path=root / "server.log") as server:
        record_strength(env["DATABASE_URL"])
        client = httpx.Client(base_url=server.url, timeout=10)
        # A round and a bad move before Prometheus starts, so those series are in its first
        # scrape and their rates are measured from there.
        forrest = client.post("/start_game", json={"policy": "forrest"}).json()["game_id"]
        assert client.post("/play", json={"game_id": forrest, "user_move": "rock"}).is_success
        assert (
            client.post("/play", json={"game_id": forrest, "user_move": "lizard"}).status_code
            == 422
        )
        config = scrape_config_for(root, server.port)
        prometheus = Prometheus(config, root / "tsdb", root / "prometheus.log")
        try:
            prometheus.wait_until("the first scrape of both app targets", prometheus.last_scrape_s)
            play_to_the_end(client, forrest, first_round=2)
            for policy in ("logan", "brian"):
                game = client.post("/start_game", json={"policy": policy}).json()["game_id"]
                play_to_the_end(client, game)
            assert (
                client.post("/play", json={"game_id": forrest, "user_move": "rock"}).status_code
                == 409
            )
            assert (
                client.post("/play", json={"game_id": forrest, "user_move": "lizard"}).status_code
                == 422
            )
            exposition = client.get("/metrics").text
            played_at = time.time()
            prometheus.wait_until(
                "a scrape after the games",
                lambda: prometheus.last_scrape_s() > played_at + 0.1,
            )
            yield Platform(server, prometheus, exposition, env["DATABASE_URL"])
        finally:
            client.close()
            prometheus.stop()


def exported_series(exposition: str) -> tuple[set[str], dict[str, str]]:
    """Sample names on /metrics and each metric family's type."""
    samples: set[str] = set()
    types: dict[str, str] = {}
    for family in text_string_to_metric_families(exposition):
        types[family.name] = family.type
        samples.update(sample.name for sample in family.samples)
    return samples, types


def missing_series(names: set[str], exposition: str) -> list[str]:
    """The names /metrics does not export, as a sample or as a declared family's series.

    A family declared with labels has no samples until its first child exists, so a name also
    counts when it is a gauge family's name, a counter family's ``_total`` or a histogram's
    ``_bucket``, ``_sum`` or ``_count``. The suffix must fit the family's type: ``_bucket`` of a
    counter, or a histogram's bare name, is missing.
    """
    samples, types = exported_series(exposition)
    missing = []
    for name in sorted(names):
        if name in samples or types.get(name) == "gauge":
            continue
        if any(
            name.endswith(suffix) and types.get(name.removesuffix(suffix)) == kind
            for suffix, kind in _SERIES_SUFFIXES
        ):
            continue
        missing.append(name)
    return missing


def panel_titled(title: str) -> dict[str, Any]:
    matches = [p for p in all_panels(dashboard()["panels"]) if p["title"] == title]
    assert len(matches) == 1, f"one panel titled {title!r} expected, found {len(matches)}"
    return matches[0]


def values_by(result: list[dict[str, Any]], *labels: str) -> dict[tuple[str, ...], float]:
    """The result's values added up by the given labels."""
    totals: dict[tuple[str, ...], float] = {}
    for sample in result:
        key = tuple(sample["metric"].get(label, "") for label in labels)
        totals[key] = totals.get(key, 0.0) + float(sample["value"][1])
    return totals


# ------------------------------------------------------------------------------------------------
# The dashboard on its own.


def test_dashboard_is_a_grafana_dashboard_bound_to_its_datasource_variable():
    board = dashboard()
    assert board["uid"] == "rps-mlops"
    assert board["schemaVersion"] >= 39
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    model_options = {o["value"] for o in variables["model"]["options"]} - {"$__all"}
    assert model_options == set(FAMILIES)
    assert variables["model"]["includeAll"]
    assert variables["model"]["allValue"] == ".*"

    panels = list(all_panels(board["panels"]))
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), f"panel ids repeat: {sorted(ids)}"
    for panel in panels:
        grid = panel.get("gridPos", {})
        assert {"h", "w", "x", "y"} <= grid.keys(), f"{panel['title']!r} has no full gridPos"
        assert grid["x"] + grid["w"] <= 24, f"{panel['title']!r} overflows the 24-column grid"
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], f"{panel['title']!r} has no query"
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), f"{panel['title']!r} repeats a refId"
        for target in panel["targets"]:
            assert target["expr"].strip(), f"{panel['title']!r} {target['refId']} has no expr"
            assert target.get("datasource", panel["datasource"]) == panel["datasource"]
    # No data source of one particular Grafana is named anywhere.
    text = DASHBOARD.read_text()
    uids = set(re.findall(r'"uid":\s*"([^"]*)"', text))
    assert uids <= {"rps-mlops", "${datasource}", "-- Grafana --"}, uids


def test_dashboard_filters_families_through_the_model_variable_and_rates_use_rate_interval():
    for query in dashboard_queries():
        for selector in re.findall(r"\b(model(?:_type)?)\s*(=~?|!=)\s*\"([^\"]*)\"", query.expr):
            assert selector[1] == "=~", (query.where, selector)
            assert "$model" in selector[2], (query.where, selector)
        for window in re.findall(r"\b(?:rate|increase)\([^\[]*\[([^\]]+)\]", query.expr):
            assert window in ("$__rate_interval", "$window", "$__range"), (query.where, window)


def test_dashboard_has_the_panels_operators_look_for():
    titles = {p["title"] for p in all_panels(dashboard()["panels"])}
    expected = {
        "Action accuracy per alias",
        "Game win rate per alias (bot view)",
        "Fallback rounds by reason",
        "Models loaded",
        "Model set reloads",
        "Promotion z statistic (B vs Production)",
        "Promotion p-value (B better than Production)",
        "Promotion decisions",
        "Alias ranks",
        "Games since the last Production swap",
        "Training completions",
        "Training session duration",
        "Requests per second per route",
        "Error rate (5xx share) per route",
        "Latency p99 per route",
        "/play latency",
        "Gym win rate of Production vs the baselines (holdout part)",
        "Gym strength per alias (holdout part)",
        "Counterfactual margin per alias (points per model round)",
    }
    assert expected <= titles, expected - titles


def test_series_check_reads_names_and_fits_suffixes_to_family_types():
    expr = (
        'sum(rate(rps_a_total{route="rps_not_a_name"}[5m])) / rps_b_seconds_count'
        " + histogram_quantile(0.9, rate(rps_b_seconds_bucket[1m])) + rps_c_info"
    )
    assert metric_names(expr) == {
        "rps_a_total",
        "rps_b_seconds_count",
        "rps_b_seconds_bucket",
        "rps_c_info",
    }
    exposition = (
        "# TYPE rps_a counter\n"  # declared with labels, no child yet
        "# TYPE rps_b_seconds histogram\n"
        'rps_b_seconds_bucket{le="+Inf"} 0.0\nrps_b_seconds_count 0.0\nrps_b_seconds_sum 0.0\n'
        "# TYPE rps_c_info gauge\n"
        "# TYPE rps_d gauge\nrps_d 1.0\n"
    )
    assert missing_series(metric_names(expr), exposition) == []
    wrong = {"rps_a_bucket", "rps_b_seconds", "rps_b_seconds_total", "rps_d_total", "rps_e"}
    assert missing_series(wrong, exposition) == sorted(wrong)


# ------------------------------------------------------------------------------------------------
# The dashboard against the running app.


def test_every_dashboard_query_returns_data(platform: Platform):
    failures = []
    queries = dashboard_queries()
    for query in queries:
        for model in (".*", "xgboost"):
            expr = substitute(query.expr, model=model)
            try:
                if not platform.prometheus.query(expr):
                    failures.append(f"{query.where} [model={model}]: no data\n    {expr}")
            except AssertionError as exc:
                failures.append(f"{query.where} [model={model}]: {exc}\n    {expr}")
    assert not failures, f"{len(failures)} of {2 * len(queries)} queries failed:\n" + "\n".join(
        failures
    )


def test_dashboard_annotations_are_valid_queries_over_exported_series(platform: Platform):
    for query in annotation_queries():
        platform.prometheus.query(substitute(query.expr))  # raises on a PromQL error
        assert not missing_series(metric_names(query.expr), platform.exposition), query.where


def test_dashboard_charts_every_series_the_app_exports(platform: Platform):
    charted = set()
    for query in dashboard_queries():
        for name in metric_names(query.expr):
            base = next((name[: -len(s)] for s in _HISTOGRAM_SUFFIXES if name.endswith(s)), name)
            charted.update({name, base})
    unseen = []
    for family in text_string_to_metric_families(platform.exposition):
        if not family.name.startswith("rps_"):
            continue
        if family.type == "histogram":
            shown = family.name in charted
        else:
            names = {family.name, f"{family.name}_total"} | {s.name for s in family.samples}
            shown = bool(names & charted)
        if not shown:
            unseen.append(family.name)
    assert not unseen, f"series the dashboard never shows: {unseen}"


def test_dashboard_shows_the_games_just_played(platform: Platform):
    prometheus = platform.prometheus

    def run(title: str, ref: str = "A", **variables: str) -> list[dict[str, Any]]:
        target = next(t for t in panel_titled(title)["targets"] if t["refId"] == ref)
        return prometheus.query(substitute(target["expr"], **variables))

    play_rate = values_by(run("Requests per second per route"), "route")
    assert play_rate.get(("/play",), 0) > 0, play_rate

    loaded = {
        (s["metric"]["model"], s["metric"]["alias"]): s["metric"]["version"]
        for s in run("Models loaded")
    }
    assert loaded == {
        (family.value, alias.value): version
        for family in SERVED
        for alias, version in VERSIONS.items()
    }

    fallbacks = values_by(run("Fallback rounds by reason"), "model")
    assert fallbacks.get(("multinomial_logistic",), 0) > 0, fallbacks
    assert fallbacks.get(("xgboost",), 0) == 0, fallbacks

    # The constant models expect rock and the player always plays rock: every prediction right.
    accuracy = values_by(run("Accuracy per alias over the time range", model="xgboost"), "alias")
    assert accuracy == {(alias.value,): 1.0 for alias in Alias}, accuracy

    # After the opening, the bot answers the expected rock with paper.
    moves = values_by(run("Bot moves per policy"), "policy", "move")
    assert moves[("forrest", "paper")] > 0, moves

    statuses = values_by(run("Responses per second by status"), "status")
    assert statuses.get(("200",), 0) > 0, statuses
    assert statuses.get(("422",), 0) > 0, statuses
    errors = values_by(run("Error rate (5xx share) per route"), "route")
    assert errors[("/play",)] == 0, errors


def test_dashboard_shows_each_aliass_gym_strength_and_counterfactual_margin(platform: Platform):
    prometheus = platform.prometheus

    def run(title: str, ref: str = "A", **variables: str) -> list[dict[str, Any]]:
        target = next(t for t in panel_titled(title)["targets"] if t["refId"] == ref)
        return prometheus.query(substitute(target["expr"], **variables))

    gym_title = "Gym strength per alias (holdout part)"
    by_alias = {
        (family.value, alias.value): GYM[(family, version)]
        for family in SERVED
        for alias, version in VERSIONS.items()
        if (family, version) in GYM
    }
    # Aliases whose versions were never measured (and the fallback family) are left out.
    for ref, index in (("A", 0), ("B", 1), ("C", 2)):
        shown = values_by(run(gym_title, ref), "model", "alias")
        assert shown == {key: figures[index] for key, figures in by_alias.items()}, ref
    production = "Gym win rate of Production vs the baselines (holdout part)"
    assert values_by(run(production, "A"), "model") == {
        ("xgboost",): 0.56,
        ("feedforward_nn",): 0.66,
    }
    assert values_by(run(production, "B", model="xgboost"), "model", "baseline") == {
        ("xgboost", "value-greedy"): 0.6,
        ("xgboost", "model-free-layer"): 0.59,
    }

    # The collector re-reads the database every few seconds: wait for the games' last rounds.
    expected = mean_counterfactual_margins(platform.database_url)
    assert {family for family, _ in expected} == {family.value for family in SERVED}

    def margins_shown() -> bool:
        shown = values_by(
            run("Counterfactual margin per alias (points per model round)"), "model", "alias"
        )
        return all(
            abs(shown.get(key, float("nan")) - value) < 1e-9 for key, value in expected.items()
        ) and all(shown[("multinomial_logistic", alias.value)] == 0 for alias in Alias)

    prometheus.wait_until("the counterfactual margins of every round played", margins_shown)


def test_production_below_value_greedy_in_the_gym_is_pending_for_that_family_alone(
    platform: Platform,
):
    def pending() -> list[dict[str, Any]]:
        alerts: list[dict[str, Any]] = platform.prometheus.api("alerts")["alerts"]
        return [a for a in alerts if a["labels"]["alertname"] == _GYM_ALERT]

    alerts = platform.prometheus.wait_until("the gym alert to be evaluated", pending)
    assert [(a["labels"]["model"], a["state"]) for a in alerts] == [("xgboost", "pending")]
    assert float(alerts[0]["value"]) == pytest.approx(0.6 - 0.56)


# ------------------------------------------------------------------------------------------------
# Alert rules and the scrape config.


def test_alert_rules_are_labelled_and_described():
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    assert [g["name"] for g in groups] == ["rps-mlops"]
    rules = alert_rules()
    names = [r["alert"] for r in rules]
    assert len(names) == len(set(names))
    for rule in rules:
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), rule["alert"]
        assert rule["annotations"]["summary"].strip(), rule["alert"]
        assert rule["annotations"]["description"].strip(), rule["alert"]
    read = {name for rule in rules for name in metric_names(rule["expr"])}
    for topic in (
        "rps_model_fallback_total",
        "rps_model_promotion_p_value",
        "rps_model_correct_predictions_by_alias_total",
        "rps_http_requests_total",
        "rps_http_request_duration_seconds_bucket",
        "rps_model_reloads_total",
        "rps_model_gym_win_rate",
        "rps_model_gym_baseline_win_rate",
    ):
        assert topic in read, f"no alert reads {topic}"


def test_alert_rules_read_only_series_the_app_exports(platform: Platform):
    missing = {
        rule["alert"]: found
        for rule in alert_rules()
        if (found := missing_series(metric_names(rule["expr"]), platform.exposition))
    }
    assert not missing, f"alert rules read series /metrics does not have: {missing}"


def test_prometheus_evaluates_every_alert_rule_without_error(platform: Platform):
    def evaluated() -> list[dict[str, Any]]:
        groups = platform.prometheus.api("rules", type="alert")["groups"]
        rules: list[dict[str, Any]] = [r for g in groups for r in g["rules"]]
        return rules if rules and all(r["health"] != "unknown" for r in rules) else []

    rules = platform.prometheus.wait_until("an evaluation of every rule", evaluated)
    assert {r["name"] for r in rules} == {r["alert"] for r in alert_rules()}
    broken = {r["name"]: r.get("lastError") for r in rules if r["health"] != "ok"}
    assert not broken, broken


def test_kubernetes_job_scrapes_annotated_app_pods_as_the_rps_app_job(platform: Platform):
    targets = platform.prometheus.api("targets", state="active")["activeTargets"]
    pods = [t for t in targets if t["scrapePool"] == "kubernetes-pods"]
    assert len(pods) == 1, "only the pod annotated prometheus.io/scrape should be scraped"
    pod = pods[0]
    assert pod["labels"]["job"] == "rps-app"
    assert pod["labels"]["pod"] == "rps-app-5d8f7-abcde"
    assert pod["labels"]["namespace"] == "mlops-poc"
    assert pod["scrapeUrl"] == f"http://127.0.0.1:{platform.server.port}/metrics"
    assert pod["health"] == "up", pod.get("lastError")
    static = [t for t in targets if t["scrapePool"] == "rps-app"]
    assert [t["health"] for t in static] == ["up"]


def test_promtool_accepts_the_rules_and_the_scrape_config(tmp_path: Path):
    promtool = prometheus_binary("promtool")
    rules = subprocess.run(
        [promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True, check=False
    )
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in rules.stdout

    shipped = yaml.safe_load(SCRAPE_CONFIG.read_text())
    kubernetes = [j for j in shipped["scrape_configs"] if "kubernetes_sd_configs" in j]
    assert [j["kubernetes_sd_configs"][0]["role"] for j in kubernetes] == ["pod"]
    # Debian's promtool lacks Kubernetes discovery: check everything else in the file as shipped,
    # next to the rule file it names.
    (tmp_path / "pods.json").write_text("[]")
    config = with_file_discovery(shipped, tmp_path / "pods.json")
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    shutil.copy(ALERTS, tmp_path / "alerts.yml")
    checked = subprocess.run(
        [promtool, "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 1 rule files found" in checked.stdout


def test_alerts_fire_on_their_conditions_and_not_on_near_misses():
    tested = subprocess.run(
        [prometheus_binary("promtool"), "test", "rules", str(ALERT_TESTS)],
        capture_output=True,
        text=True,
        check=False,
        cwd=PROMETHEUS_DIR,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    covered = set(re.findall(r"alertname:\s*(\w+)", ALERT_TESTS.read_text()))
    assert covered == {r["alert"] for r in alert_rules()}, "every alert needs a rule test"
