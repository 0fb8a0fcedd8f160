"""The promotion ledger over HTTP, the ops summary, and the lifecycle series in /metrics
(SPEC §7, §8, §9)."""

from __future__ import annotations

import itertools
import json
import random
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert

from rps.api.app import create_app
from rps.bootstrap import Container, build_container
from rps.domain.policy import Alias, Family
from rps.persistence.database import Database, migrate
from rps.persistence.lifecycle_repository import TrainingStatus
from rps.persistence.promotion_repository import LedgerEvent
from rps.persistence.tables import alias_predictions, games, rounds
from rps.settings import Settings, load_settings
from tests.integration.api.test_platform_api import metric_value
from tests.support.onnx_models import DictSource, fetched
from tests.support.rows import round_row

HISTORY = "/internal/promotion/history"
REPORT = "/internal/promotion/report"
T0 = datetime(2026, 10, 1, 8, 30, tzinfo=UTC)
FAMILIES = [f.value for f in Family]
ALIASES = [a.value for a in Alias]
DECISIONS = [
    "swap_production_b",
    "retain_production",
    "insufficient_data",
    "alias_reorder",
    "alias_set",
]
_ids = itertools.count()


def ledger_event(hours: int, **overrides: Any) -> LedgerEvent:
    values: dict[str, Any] = {
        "event_id": f"evt-{next(_ids):06d}",
        "created_at": T0 + timedelta(hours=hours),
        "model_type": "xgboost",
        "decision": "retain_production",
        "source": "auto",
        "reason": "winrate rule: Production has the higher win rate",
        "rule": "winrate",
        "z": -0.5,
        "p_value": 0.69,
        "production_version": "1",
        "production_wins": 2,
        "production_games": 3,
        "b_version": "2",
        "b_wins": 1,
        "b_games": 3,
    }
    values.update(overrides)
    return LedgerEvent(**values)


def history(client: TestClient, query: str = "") -> list[dict[str, Any]]:
    response = client.get(f"{HISTORY}{query}")
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["events"]
    return events


def detail(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"detail"}
    assert isinstance(body["detail"], str)
    return str(body["detail"])


def report_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model_type": "xgboost",
        "decision": "swap_production_b",
        "reason": "external promoter: B won 30 of 40 games",
        "source": "argo-promoter",
        "event_id": "ext-000000001",
        "rule": "winrate",
        "z": 2.5,
        "p_value": 0.0062,
        "srm_p_value": 0.8,
        "production_version": "7",
        "production_wins": 20,
        "production_games": 40,
        "b_version": "8",
        "b_wins": 30,
        "b_games": 40,
        "assignments_before": {"Production": "7", "B": "8", "shadow1": "9", "shadow2": "10"},
        "assignments_after": {"Production": "8", "B": "7", "shadow1": "9", "shadow2": "10"},
    }
    body.update(overrides)
    return body


# -- GET /internal/promotion/history -------------------------------------------------------------


def test_history_lists_the_ledger_newest_first(client: TestClient, container: Container) -> None:
    for hours, family in [(2, "xgboost"), (0, "feedforward_nn"), (1, "multinomial_logistic")]:
        container.promotions.add_event(ledger_event(hours, model_type=family))

    events = history(client)

    assert [e["model_type"] for e in events] == [
        "xgboost",
        "multinomial_logistic",
        "feedforward_nn",
    ]
    assert events[0]["created_at"] == "2026-10-01T10:30:00Z"
    assert events[0]["id"] is not None
    assert (events[0]["production_wins"], events[0]["b_games"]) == (2, 3)


def test_history_filters_by_family_decision_and_time_and_honours_the_limit(
    client: TestClient, container: Container
) -> None:
    rows = [
        ledger_event(0, model_type="xgboost", decision="retain_production"),
        ledger_event(1, model_type="xgboost", decision="swap_production_b"),
        ledger_event(2, model_type="feedforward_nn", decision="swap_production_b"),
        ledger_event(3, model_type="xgboost", decision="alias_set"),
    ]
    for row in rows:
        container.promotions.add_event(row)
    ids = [r.event_id for r in rows]

    def found(query: str) -> list[str]:
        return [e["event_id"] for e in history(client, query)]

    assert found("?model_type=xgboost") == [ids[3], ids[1], ids[0]]
    assert found("?decision=swap_production_b") == [ids[2], ids[1]]
    assert found("?model_type=xgboost&decision=swap_production_b") == [ids[1]]
    assert found("?since=2026-10-01T09:30:00Z") == [ids[3], ids[2], ids[1]]
    # A time without an offset is read as UTC; one with an offset is the same instant.
    assert found("?since=2026-10-01T10:30:00") == [ids[3], ids[2]]
    assert found("?since=2026-10-01T11:30:00%2B01:00") == [ids[3], ids[2]]
    assert found("?limit=1") == [ids[3]]
    assert found("?decision=insufficient_data") == []


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("model_type=brian_the_bot", "model_type"),
        ("decision=promote_everything", "decision"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("since=yesterday", "since"),
        ("since=1764417600", "since"),  # a bare number is not an ISO-8601 time
    ],
)
def test_history_rejects_a_bad_filter_with_422_naming_it(
    client: TestClient, query: str, named: str
) -> None:
    message = detail(client.get(f"{HISTORY}?{query}"), 422)

    assert message.startswith(f"{named}:")


@pytest.mark.parametrize("since", ["0001-01-01T00:00:00%2B14:00", "9999-12-31T23:59:59-14:00"])
def test_history_rejects_a_time_that_is_out_of_range_in_utc(
    client: TestClient, container: Container, since: str
) -> None:
    container.promotions.add_event(ledger_event(0))

    assert "out of range" in detail(client.get(f"{HISTORY}?since={since}"), 422)


# -- POST /internal/promotion/report -------------------------------------------------------------


def test_report_needs_the_admin_token(client: TestClient) -> None:
    missing = client.post(REPORT, json=report_body())
    wrong = client.post(REPORT, json=report_body(), headers={"Authorization": "Bearer nope"})

    assert "admin token required" in detail(missing, 401)
    assert "admin token is wrong" in detail(wrong, 401)
    assert history(client) == []


def test_report_is_forbidden_when_the_server_has_no_admin_token(tmp_path: Path) -> None:
    settings = load_settings(DATA_PATH=tmp_path / "no-token", RPS_ADMIN_TOKEN="")
    container = build_container(settings)
    try:
        with TestClient(create_app(container=container)) as client:
            response = client.post(
                REPORT, json=report_body(), headers={"Authorization": "Bearer anything"}
            )
            assert "no RPS_ADMIN_TOKEN is configured" in detail(response, 403)
    finally:
        container.close()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"winner": "B"}, "winner: Extra inputs are not permitted"),
        ({"b_wins": 41}, "b_wins (41) exceeds b_games (40)"),
        ({"production_wins": 5, "production_games": 4}, "production_wins (5) exceeds"),
        ({"p_value": 1.5}, "p_value: Input should be less than or equal to 1"),
        ({"srm_p_value": -0.1}, "srm_p_value: Input should be greater than or equal to 0"),
        ({"model_type": "brian"}, "model_type: Input should be"),
        ({"decision": "promote"}, "decision: Input should be"),
        ({"reason": ""}, "reason: String should have at least 1 character"),
        ({"event_id": "a b c d e f"}, "event_id: String should match pattern"),
        ({"b_games": -1}, "b_games: Input should be greater than or equal to 0"),
        # Found by the fuzz: a count no ledger column can hold was a 500.
        ({"b_wins": 2**70}, "b_wins: Input should be less than or equal to 2147483647"),
        ({"reorder_applied": 0}, "reorder_applied: Input should be a valid boolean"),
        ({"b_games": True}, "b_games: Value error, must be a number, not true or false"),
        ({"assignments_after": {"Staging": "3"}}, "assignments_after.Staging"),
    ],
)
def test_a_bad_report_is_422_naming_what_is_wrong_and_records_nothing(
    client: TestClient, admin_headers: dict[str, str], change: dict[str, Any], message: str
) -> None:
    response = client.post(REPORT, json=report_body(**change), headers=admin_headers)

    assert message in detail(response, 422)
    assert history(client) == []


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        # JSON can carry these escapes, but no database can store a lone surrogate and
        # PostgreSQL refuses NUL: they are bad input, not a server error or a broken ledger.
        (r'"reason": "half a pair: \ud800"', "reason: "),
        (r'"reason": "nul \u0000 inside"', "reason: Value error, must not contain NUL characters"),
        (r'"source": "a\u0000b"', "source: Value error, must not contain NUL characters"),
        (r'"b_version": "\udfff"', "b_version"),
        (r'"assignments_after": {"B": "\ud800"}', "assignments_after.B"),
        (r'"assignments_before": {"B": "7\u0000"}', "assignments_before.B"),
    ],
)
def test_a_report_with_text_no_database_can_store_is_422_and_the_ledger_still_reads(
    client: TestClient, admin_headers: dict[str, str], raw: str, message: str
) -> None:
    body = '{"model_type": "xgboost", "decision": "alias_set", "reason": "ok", ' + raw + "}"
    body = body.replace('"reason": "ok", "reason"', '"reason"')
    headers = {**admin_headers, "Content-Type": "application/json"}

    response = client.post(REPORT, content=body.encode(), headers=headers)

    assert message in detail(response, 422)
    assert history(client) == []


def test_a_report_that_is_not_json_is_refused_and_records_nothing(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    headers = {**admin_headers, "Content-Type": "application/json"}

    not_text = client.post(REPORT, content=b"\xff\xfe{not json", headers=headers)
    not_json = client.post(REPORT, content=b"{not json", headers=headers)

    assert "error parsing the body" in detail(not_text, 400)
    assert "JSON decode error" in detail(not_json, 422)
    assert history(client) == []


def test_a_report_is_recorded_once_per_event_id(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    first = client.post(REPORT, json=report_body(), headers=admin_headers)
    again = client.post(REPORT, json=report_body(reason="sent twice"), headers=admin_headers)

    assert first.status_code == 200, first.text
    assert again.status_code == 200, again.text
    assert first.json()["recorded"] is True
    assert again.json()["recorded"] is False
    assert again.json()["event"] == first.json()["event"]
    (row,) = history(client)
    assert row == first.json()["event"]
    assert row["event_id"] == "ext-000000001"
    assert row["reason"] == "external promoter: B won 30 of 40 games"
    assert (row["decision"], row["source"], row["applied"]) == (
        "swap_production_b",
        "argo-promoter",
        True,
    )
    assert (row["b_wins"], row["b_games"], row["z"]) == (30, 40, 2.5)
    assert row["assignments_after"] == {
        "Production": "8",
        "B": "7",
        "shadow1": "9",
        "shadow2": "10",
    }


def test_two_reports_racing_with_one_event_id_store_one_row(
    client: TestClient, admin_headers: dict[str, str], container, monkeypatch
) -> None:
    """The second request looked before the first stored (both saw no row): the database's
    unique key turns the second insert away, and it answers with the stored row."""
    first = client.post(REPORT, json=report_body(), headers=admin_headers)
    assert first.status_code == 200, first.text
    real_lookup = container.promotions.event_by_id
    lookups: list[str] = []

    def stale_lookup(event_id: str):
        lookups.append(event_id)
        return None if len(lookups) == 1 else real_lookup(event_id)

    monkeypatch.setattr(container.promotions, "event_by_id", stale_lookup)
    late = client.post(REPORT, json=report_body(reason="the racing copy"), headers=admin_headers)
    assert late.status_code == 200, late.text
    assert late.json()["recorded"] is False
    assert late.json()["event"] == first.json()["event"]
    assert len(lookups) == 2
    assert len(history(client)) == 1


def test_a_report_without_an_event_id_gets_one(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    body = report_body(event_id=None)
    first = client.post(REPORT, json=body, headers=admin_headers).json()
    second = client.post(REPORT, json=body, headers=admin_headers).json()

    assert first["recorded"] is True
    assert second["recorded"] is True
    assert first["event"]["event_id"] != second["event"]["event_id"]
    assert len(history(client)) == 2


def test_a_report_shows_in_metrics_at_the_next_scrape(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    before = client.get("/metrics").text  # also fills the collector's cache
    labels = {"model": "xgboost", "decision": "swap_production_b"}
    assert metric_value(before, "rps_model_promotion_events_total", **labels) == 0.0

    client.post(REPORT, json=report_body(), headers=admin_headers)
    after = client.get("/metrics").text

    assert metric_value(after, "rps_model_promotion_events_total", **labels) == 1.0
    assert metric_value(after, "rps_model_promotion_z_statistic", model="xgboost") == 2.5
    assert metric_value(after, "rps_model_promotion_p_value", model="xgboost") == 0.0062
    other = {"model": "feedforward_nn", "decision": "swap_production_b"}
    assert metric_value(after, "rps_model_promotion_events_total", **other) == 0.0
    assert 'decision="swap_production_b",model="xgboost"} 1.0' in after


# -- the lifecycle series in /metrics ------------------------------------------------------------


def label_sets(text: str, name: str) -> list[dict[str, str]]:
    """The label sets of every sample of ``name`` in a Prometheus text exposition."""
    found = []
    for line in text.splitlines():
        match = re.match(rf"{re.escape(name)}(?:\{{(.*)\}})? \S+$", line)
        if match:
            found.append(dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or "")))
    return found


def combinations(**labels: list[str]) -> list[dict[str, str]]:
    keys = list(labels)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*labels.values())]


def sort_key(labels: dict[str, str]) -> str:
    return json.dumps(labels, sort_keys=True)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("rps_model_promotion_z_statistic", combinations(model=FAMILIES)),
        ("rps_model_promotion_p_value", combinations(model=FAMILIES)),
        ("rps_model_promotion_events_total", combinations(model=FAMILIES, decision=DECISIONS)),
        ("rps_model_alias_reorders_total", combinations(model=FAMILIES)),
        ("rps_model_alias_rank", combinations(model=FAMILIES, alias=ALIASES)),
        ("rps_model_games_since_production_swap", combinations(model=FAMILIES, alias=ALIASES)),
        (
            "rps_training_completed_total",
            combinations(
                model_type=[*FAMILIES, "all"],
                status=["succeeded", "failed", "skipped", "rejected"],
            ),
        ),
        (
            "rps_training_duration_seconds_bucket",
            combinations(
                le=[*(f"{s:.1f}" for s in (10, 30, 60, 120, 300, 600, 1200, 1800, 3600)), "+Inf"]
            ),
        ),
        ("rps_training_duration_seconds_count", [{}]),
        ("rps_training_duration_seconds_sum", [{}]),
        ("rps_model_gym_win_rate", combinations(model=FAMILIES, alias=ALIASES)),
        (
            "rps_model_gym_baseline_win_rate",
            combinations(
                model=FAMILIES, alias=ALIASES, baseline=["value-greedy", "model-free-layer"]
            ),
        ),
        ("rps_model_counterfactual_margin", combinations(model=FAMILIES, alias=ALIASES)),
    ],
)
def test_every_lifecycle_series_exists_at_start_up_with_every_label_combination(
    client: TestClient, name: str, expected: list[dict[str, str]]
) -> None:
    found = label_sets(client.get("/metrics").text, name)

    assert sorted(found, key=sort_key) == sorted(expected, key=sort_key)


def test_lifecycle_series_start_at_their_neutral_values(client: TestClient) -> None:
    text = client.get("/metrics").text

    for family in FAMILIES:
        assert metric_value(text, "rps_model_promotion_z_statistic", model=family) == 0.0
        assert metric_value(text, "rps_model_promotion_p_value", model=family) == 1.0
        for decision in DECISIONS:
            value = metric_value(
                text, "rps_model_promotion_events_total", model=family, decision=decision
            )
            assert value == 0.0
    assert metric_value(text, "rps_training_duration_seconds_bucket", le="+Inf") == 0.0
    for family in FAMILIES:
        for alias in ALIASES:
            labels = {"model": family, "alias": alias}
            assert metric_value(text, "rps_model_gym_win_rate", **labels) == 0.0
            assert metric_value(text, "rps_model_counterfactual_margin", **labels) == 0.0
            for baseline in ("value-greedy", "model-free-layer"):
                value = metric_value(
                    text, "rps_model_gym_baseline_win_rate", baseline=baseline, **labels
                )
                assert value == 0.0


# -- GET /ops/summary ----------------------------------------------------------------------------


def test_ops_summary_without_models_lists_every_family_and_alias_on_fallback(
    client: TestClient, container: Container
) -> None:
    response = client.get("/ops/summary")
    assert response.status_code == 200, response.text
    summary = response.json()

    assert set(summary) == {
        "generated_at",
        "scoring_version",
        "families",
        "ledger",
        "training_runs",
    }
    assert summary["scoring_version"] == container.gameplay.scoring_version
    assert [(f["model_type"], f["policy"]) for f in summary["families"]] == [
        ("feedforward_nn", "brian"),
        ("xgboost", "forrest"),
        ("multinomial_logistic", "logan"),
    ]
    for family in summary["families"]:
        assert set(family) == {
            "model_type",
            "policy",
            "ab_split",
            "aliases",
            "promotion",
            "daily",
        }
        assert family["promotion"] is None  # no Production served: nothing to test
        assert [a["alias"] for a in family["aliases"]] == ALIASES
        for alias in family["aliases"]:
            assert (alias["version"], alias["source"], alias["fallback_reason"]) == (
                None,
                "fallback",
                "no_model",
            )
            assert (alias["predictions"], alias["games"]) == (0, 0)
            assert (alias["accuracy"], alias["win_rate"]) == (None, None)
            assert alias["gym"] is None
            assert alias["counterfactual"] == {
                "model_rounds": 0,
                "win_rate": None,
                "mean_margin": None,
            }
        assert family["ab_split"] == {
            "enabled": True,
            "configured_b": 0.5,
            "observed_b": None,
            "games": 0,
            "srm_p_value": None,
        }
        assert family["daily"] == []
    assert summary["ledger"] == []
    assert summary["training_runs"] == []


@pytest.mark.parametrize("days", ["0", "91", "-3", "a-week"])
def test_ops_summary_rejects_days_out_of_range(client: TestClient, days: str) -> None:
    assert detail(client.get(f"/ops/summary?days={days}"), 422).startswith("days:")


VERSIONS = {Alias.PRODUCTION: "11", Alias.B: "12", Alias.SHADOW1: "13", Alias.SHADOW2: "14"}


@pytest.fixture
def served(settings: Settings) -> Iterator[tuple[TestClient, Container]]:
    """The app with a constant model loaded in every family@alias (versions 11-14)."""
    db = Database(settings.database_url)
    migrate(db)
    db.dispose()
    models = {
        (family, alias): fetched(version)
        for family in Family
        for alias, version in VERSIONS.items()
    }
    container = build_container(
        settings, rng=random.Random(5), model_sources=[DictSource("cache", models)]
    )
    container.models.reload()
    try:
        with TestClient(create_app(container=container)) as client:
            yield client, container
    finally:
        container.close()


def noon(days_ago: int) -> datetime:
    """Noon UTC ``days_ago`` days before today, so a game and its end fall on one day."""
    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days_ago)


def store_game(
    db: Database,
    alias: Alias,
    winner: str | None,
    created_at: datetime,
    *,
    is_test: bool = False,
) -> str:
    game_id = f"ops-game-{next(_ids):06d}"
    with db.write() as conn:
        conn.execute(
            insert(games),
            {
                "id": game_id,
                "session_id": "s",
                "player_name": "Ann",
                "policy": "forrest",
                "model_type": "xgboost",
                "bot_model_alias": alias.value,
                "model_version": VERSIONS[alias],
                "is_test": is_test,
                "winner": winner,
                "created_at": created_at,
                "finished_at": created_at + timedelta(minutes=5) if winner else None,
                "finished_reason": "completed" if winner else None,
                "rounds_played": 1,
            },
        )
        # One round the alias's model decided: only such games are A/B evidence (SPEC §7).
        conn.execute(
            insert(rounds),
            round_row(
                game_id,
                1,
                decision_source="model",
                model_alias=alias.value,
                model_version=VERSIONS[alias],
                created_at=created_at + timedelta(minutes=1),
            ),
        )
    return game_id


def store_predictions(
    db: Database, game_id: str, alias: Alias, at: datetime, correct: list[bool]
) -> None:
    with db.write() as conn:
        conn.execute(
            insert(alias_predictions),
            [
                {
                    "game_id": game_id,
                    "step_no": 4 + i,
                    "model_type": "xgboost",
                    "alias": alias.value,
                    "model_version": VERSIONS[alias],
                    "predicted_move": "rock",
                    "probabilities": "[0.7, 0.2, 0.1]",
                    "correct": right,
                    "counterfactual_result": "win",
                    "created_at": at + timedelta(minutes=i),
                }
                for i, right in enumerate(correct)
            ],
        )


def test_ops_summary_shows_accuracy_and_win_rate_since_assignment_and_daily_figures(
    served: tuple[TestClient, Container],
) -> None:
    client, container = served
    db = container.database
    container.lifecycle.record_assignment(
        model_type="xgboost",
        alias="Production",
        version="11",
        run_id="run-11",
        previous_version="9",
        assigned_by="rps promote",
        assigned_at=noon(2),
    )
    host = store_game(db, Alias.SHADOW2, None, noon(5))  # unfinished: holds the predictions
    # Before Production's assignment: left out of its figures, kept in the daily charts.
    store_game(db, Alias.PRODUCTION, "bot", noon(3))
    store_predictions(db, host, Alias.PRODUCTION, noon(3), [False, False])
    # Since: 2 of 3 games won, 3 of 4 predictions right. A test game never counts.
    for winner in ("bot", "user", "bot"):
        store_game(db, Alias.PRODUCTION, winner, noon(1))
    store_game(db, Alias.PRODUCTION, "bot", noon(1), is_test=True)
    store_predictions(db, host, Alias.PRODUCTION, noon(1), [True, True, False, True])
    # B has no recorded assignment: all of its games and predictions count.
    store_game(db, Alias.B, "bot", noon(1))
    store_game(db, Alias.B, "tie", noon(1))
    store_predictions(db, host, Alias.B, noon(1) + timedelta(hours=1), [True, False])
    store_predictions(db, host, Alias.SHADOW1, noon(1) + timedelta(hours=2), [True])
    container.promotions.add_event(ledger_event(0, decision="swap_production_b"))
    run = container.lifecycle.start_training_run("scheduled")
    container.lifecycle.finish_training_run(
        run, TrainingStatus.SUCCEEDED, rows_used=1200, models_trained=3, models_registered=2
    )

    summary = client.get("/ops/summary").json()

    xgboost = next(f for f in summary["families"] if f["model_type"] == "xgboost")
    aliases = {a["alias"]: a for a in xgboost["aliases"]}
    production, b, shadow1 = aliases["Production"], aliases["B"], aliases["shadow1"]
    assert (production["version"], production["source"]) == ("11", "cache")
    assert production["assigned_at"] == noon(2).isoformat().replace("+00:00", "Z")
    assert (production["predictions"], production["accuracy"]) == (4, 0.75)
    assert (production["games"], production["bot_wins"]) == (3, 2)
    assert production["win_rate"] == pytest.approx(2 / 3)
    assert b["assigned_at"] is None
    assert (b["predictions"], b["accuracy"], b["games"], b["win_rate"]) == (2, 0.5, 2, 0.5)
    assert (shadow1["predictions"], shadow1["accuracy"]) == (1, 1.0)
    assert (shadow1["games"], shadow1["win_rate"]) == (0, None)
    # Games since the newer of the Production and B windows, per assigned alias.
    assert xgboost["ab_split"]["games"] == 5
    assert xgboost["ab_split"]["observed_b"] == pytest.approx(0.4)
    assert xgboost["ab_split"]["srm_p_value"] is not None

    day = {n: noon(n).date().isoformat() for n in (1, 3)}
    assert [
        (d["date"], d["alias"], d["predictions"], d["accuracy"], d["games"], d["win_rate"])
        for d in xgboost["daily"]
    ] == [
        (day[3], "Production", 2, 0.0, 1, 1.0),
        (day[1], "B", 2, 0.5, 2, 0.5),
        (day[1], "Production", 4, 0.75, 3, pytest.approx(2 / 3)),
        (day[1], "shadow1", 1, 1.0, 0, None),
    ]
    others = [f for f in summary["families"] if f["model_type"] != "xgboost"]
    for family in others:
        assert family["daily"] == []
        assert [a["version"] for a in family["aliases"]] == ["11", "12", "13", "14"]
        assert {(a["predictions"], a["accuracy"], a["win_rate"]) for a in family["aliases"]} == {
            (0, None, None)
        }

    (ledger_row,) = summary["ledger"]
    assert ledger_row["decision"] == "swap_production_b"
    (training,) = summary["training_runs"]
    assert (training["status"], training["trigger"], training["rows_used"]) == (
        "succeeded",
        "scheduled",
        1200,
    )
    assert (training["models_trained"], training["models_registered"]) == (3, 2)
    assert training["finished_at"].endswith("Z")


def test_ops_summary_daily_figures_keep_to_the_requested_days(
    served: tuple[TestClient, Container],
) -> None:
    client, container = served
    host = store_game(container.database, Alias.B, "bot", noon(10))
    store_predictions(container.database, host, Alias.B, noon(10), [True])

    def daily(days: int) -> list[dict[str, Any]]:
        summary = client.get(f"/ops/summary?days={days}").json()
        return next(f for f in summary["families"] if f["model_type"] == "xgboost")["daily"]

    assert daily(5) == []
    assert [(d["alias"], d["predictions"], d["games"]) for d in daily(14)] == [("B", 1, 1)]
