"""Every Prometheus series the platform exports, declared here with fixed label sets (SPEC §8).

The label combinations dashboards read are created at start-up so they exist with value 0.
With several worker processes (``PROMETHEUS_MULTIPROC_DIR`` set before the workers start),
prometheus_client writes each process's values to files that ``render`` merges.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.multiprocess import MultiProcessCollector

from rps.domain.move import MOVES, Outcome, Winner
from rps.domain.policy import Alias, Family, Policy

DIFFICULTY = "standard"
FALLBACK_REASONS = (
    "no_model",
    "not_loaded",
    "load_failed",
    "predict_failed",
    "feature_mismatch",
    "source_unreachable",
)
RELOAD_RESULTS = ("success", "degraded", "failed")
PROMOTION_DECISIONS = (
    "swap_production_b",
    "retain_production",
    "insufficient_data",
    "alias_reorder",
    "alias_set",
)
# Sessions (model_type="all") are succeeded, failed, skipped or rejected (the gate refused every
# model); a family's models succeeded, failed or were rejected (skipped stays 0 for them).
TRAINING_STATUSES = ("succeeded", "failed", "skipped", "rejected")
TRAINING_MODEL_TYPES = (*(f.value for f in Family), "all")  # "all": whole training sessions
TRAINING_BUCKETS = (10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)
# The baselines each version's gym figure is shown beside (SPEC §4.1), on the same games.
GYM_BASELINE_GREEDY = "value-greedy"
GYM_BASELINE_LAYER = "model-free-layer"
GYM_BASELINES = (GYM_BASELINE_GREEDY, GYM_BASELINE_LAYER)
LIFECYCLE_TTL_S = 5.0
MODEL_WEIGHT_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)
log = logging.getLogger(__name__)
_LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
)  # fmt: skip


class _ServedModel(Protocol):
    @property
    def family(self) -> Family: ...

    @property
    def alias(self) -> Alias: ...

    @property
    def version(self) -> str: ...

    @property
    def run_id(self) -> str: ...


@dataclass(frozen=True)
class LifecycleSnapshot:
    """Promotion, training and strength figures read from the database (the ledger, training
    runs, alias moves, gym figures and alias predictions).

    Promotions, training and evaluations run in other processes (CLIs, CronJobs, the
    scheduler), so the app derives these series from what they wrote rather than counting them
    itself: every worker and replica reports the same values, and a restart loses nothing.
    """

    promotion_z: dict[str, float] = field(default_factory=dict)  # family → z
    promotion_p: dict[str, float] = field(default_factory=dict)
    promotion_events: dict[tuple[str, str], int] = field(default_factory=dict)  # (family, decision)
    alias_reorders: dict[str, int] = field(default_factory=dict)
    alias_rank: dict[tuple[str, str], int] = field(default_factory=dict)  # (family, alias)
    games_since_swap: dict[tuple[str, str], int] = field(default_factory=dict)
    training_completed: dict[tuple[str, str], int] = field(default_factory=dict)  # (type, status)
    # Sessions that trained, counted by the database: cumulative counts per TRAINING_BUCKETS
    # bound (empty: none yet), their number and total seconds.
    training_duration_buckets: tuple[int, ...] = ()
    training_duration_count: int = 0
    training_duration_sum_s: float = 0.0
    # Of the version each family@alias holds: its holdout gym win rate, the baselines' on the
    # same games ((family, alias, baseline)), and its mean counterfactual margin per model round.
    gym_win_rate: dict[tuple[str, str], float] = field(default_factory=dict)
    gym_baseline_win_rate: dict[tuple[str, str, str], float] = field(default_factory=dict)
    counterfactual_margin: dict[tuple[str, str], float] = field(default_factory=dict)


class LifecycleCollector:
    """Yields the promotion, training and strength series from a snapshot, re-read at most
    every ``ttl`` seconds; every label combination a dashboard reads is present (0 when
    unknown)."""

    def __init__(
        self,
        source: Callable[[], LifecycleSnapshot],
        ttl: float = LIFECYCLE_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._snapshot = LifecycleSnapshot()
        self._read_at: float | None = None
        self.failures = 0

    def snapshot(self) -> LifecycleSnapshot:
        with self._lock:
            now = self._clock()
            if self._read_at is None or now - self._read_at >= self._ttl:
                try:
                    self._snapshot = self._source()
                except Exception:  # a database hiccup must not break /metrics
                    self.failures += 1
                    log.warning("lifecycle metrics: reading the database failed", exc_info=True)
                self._read_at = now
            return self._snapshot

    def refresh(self) -> None:
        """Read the database again on the next scrape (after a promotion or reload)."""
        with self._lock:
            self._read_at = None

    def describe(self) -> Iterator[Metric]:
        return iter(())  # values come from the database: nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot()
        families = [f.value for f in Family]
        aliases = [a.value for a in Alias]
        z = GaugeMetricFamily(
            "rps_model_promotion_z_statistic",
            "Pooled two-proportion z of B vs Production at the family's latest promotion",
            labels=["model"],
        )
        p = GaugeMetricFamily(
            "rps_model_promotion_p_value",
            "One-sided p-value that B beats Production at the family's latest promotion",
            labels=["model"],
        )
        for f in families:
            z.add_metric([f], snap.promotion_z.get(f, 0.0))
            p.add_metric([f], snap.promotion_p.get(f, 1.0))
        events = CounterMetricFamily(
            "rps_model_promotion_events",
            "Promotion ledger rows by family and decision",
            labels=["model", "decision"],
        )
        for f in families:
            for d in PROMOTION_DECISIONS:
                events.add_metric([f, d], snap.promotion_events.get((f, d), 0))
        reorders = CounterMetricFamily(
            "rps_model_alias_reorders",
            "Promotions that re-ordered the challenger aliases",
            labels=["model"],
        )
        for f in families:
            reorders.add_metric([f], snap.alias_reorders.get(f, 0))
        rank = GaugeMetricFamily(
            "rps_model_alias_rank",
            "Accuracy rank (1 = best) of the version each alias holds, at the latest promotion",
            labels=["model", "alias"],
        )
        since = GaugeMetricFamily(
            "rps_model_games_since_production_swap",
            "Finished games per alias since the family's last Production swap",
            labels=["model", "alias"],
        )
        for f in families:
            for a in aliases:
                rank.add_metric([f, a], snap.alias_rank.get((f, a), 0))
                since.add_metric([f, a], snap.games_since_swap.get((f, a), 0))
        completed = CounterMetricFamily(
            "rps_training_completed",
            "Trained models by family and result; model_type=all counts training sessions",
            labels=["model_type", "status"],
        )
        for t in TRAINING_MODEL_TYPES:
            for st in TRAINING_STATUSES:
                completed.add_metric([t, st], snap.training_completed.get((t, st), 0))
        counted = snap.training_duration_buckets or (0,) * len(TRAINING_BUCKETS)
        buckets = [
            (str(bound), float(n)) for bound, n in zip(TRAINING_BUCKETS, counted, strict=True)
        ]
        buckets.append(("+Inf", float(snap.training_duration_count)))
        duration = HistogramMetricFamily(
            "rps_training_duration_seconds",
            "Durations of training sessions that trained (every one, not only recent ones)",
            buckets=buckets,
            sum_value=snap.training_duration_sum_s,
        )
        gym = GaugeMetricFamily(
            "rps_model_gym_win_rate",
            "Holdout gym win rate of the version each alias holds (0: not measured)",
            labels=["model", "alias"],
        )
        baseline = GaugeMetricFamily(
            "rps_model_gym_baseline_win_rate",
            "A baseline's holdout gym win rate on the games that version played (0: not measured)",
            labels=["model", "alias", "baseline"],
        )
        margin = GaugeMetricFamily(
            "rps_model_counterfactual_margin",
            "Mean points per model round the version each alias holds would have gained minus "
            "lost with its own decisions (current decision-layer version; 0: no rounds)",
            labels=["model", "alias"],
        )
        for f in families:
            for a in aliases:
                gym.add_metric([f, a], snap.gym_win_rate.get((f, a), 0.0))
                margin.add_metric([f, a], snap.counterfactual_margin.get((f, a), 0.0))
                for b in GYM_BASELINES:
                    baseline.add_metric([f, a, b], snap.gym_baseline_win_rate.get((f, a, b), 0.0))
        yield from (z, p, events, reorders, rank, since, completed, duration, gym, baseline, margin)


class Metrics:
    """The platform's series in one registry. Build one per process (the app factory does)."""

    def __init__(self, multiprocess_dir: Path | None = None) -> None:
        # Every series here is a counter/gauge/histogram a dashboard reads; the *_created
        # companions would only double the exposition.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry(auto_describe=True)
        self._multiprocess_dir = multiprocess_dir
        r = self.registry
        round_labels = ("policy", "model_type", "difficulty")
        self.action_predictions = Counter(
            "rps_action_predictions_total",
            "Bot moves played, per policy and chosen move",
            (*round_labels, "move"),
            registry=r,
        )
        self.action_wins = Counter(
            "rps_action_wins_total", "Rounds the bot won", round_labels, registry=r
        )
        self.action_losses = Counter(
            "rps_action_losses_total", "Rounds the bot lost", round_labels, registry=r
        )
        self.action_ties = Counter(
            "rps_action_ties_total", "Rounds drawn", round_labels, registry=r
        )
        self.games = Counter("rps_games_total", "Finished games", round_labels, registry=r)
        self.game_wins = Counter(
            "rps_game_wins_total", "Finished games the bot won", round_labels, registry=r
        )
        self.game_losses = Counter(
            "rps_game_losses_total", "Finished games the bot lost", round_labels, registry=r
        )
        self.model_fallbacks = Counter(
            "rps_model_fallback_total",
            "Rounds a family's bot played without its model (its fallback), per reason",
            ("model", "reason"),
            registry=r,
        )
        alias_labels = ("model", "alias")
        game_alias_labels = ("model", "alias", "difficulty")
        self.alias_predictions = Counter(
            "rps_model_predictions_by_alias_total",
            "Predictions each alias made on ML rounds (shadows included)",
            alias_labels,
            registry=r,
        )
        self.alias_correct = Counter(
            "rps_model_correct_predictions_by_alias_total",
            "Predictions that named the user's actual move",
            alias_labels,
            registry=r,
        )
        self.alias_games = Counter(
            "rps_model_games_by_alias_total",
            "Finished games played by each alias (the game's A/B assignment)",
            game_alias_labels,
            registry=r,
        )
        self.alias_game_wins = Counter(
            "rps_model_game_wins_by_alias_total",
            "Finished games the bot won, by alias",
            game_alias_labels,
            registry=r,
        )
        self.alias_game_losses = Counter(
            "rps_model_game_losses_by_alias_total",
            "Finished games the bot lost, by alias",
            game_alias_labels,
            registry=r,
        )
        self.model_loaded_info = Gauge(
            "rps_model_loaded_info",
            "1 for the version each family@alias serves now; 0 for versions it served before",
            ("model", "alias", "version", "run_id"),
            registry=r,
            multiprocess_mode="livemax",
        )
        self.model_load_seconds = Histogram(
            "rps_model_load_seconds",
            "Time to load and validate a full model set",
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
            registry=r,
        )
        self.model_reloads = Counter(
            "rps_model_reloads_total", "Model set loads by result", ("result",), registry=r
        )
        self.decision_model_weight = Histogram(
            "rps_decision_model_weight",
            "The model expert's share of the decision layer's blend at each model round",
            ("model",),
            buckets=MODEL_WEIGHT_BUCKETS,
            registry=r,
        )
        self.http_requests = Counter(
            "rps_http_requests_total",
            "HTTP requests by route template, method and status",
            ("route", "method", "status"),
            registry=r,
        )
        self.http_duration = Histogram(
            "rps_http_request_duration_seconds",
            "HTTP request duration by route template",
            ("route", "method"),
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self._round_children: dict[tuple[str, str], tuple[dict[str, Counter], ...]] = {}
        for policy in Policy:
            self._children(policy.value, policy.family.value)
        for family in Family:
            for reason in FALLBACK_REASONS:
                self.model_fallbacks.labels(family.value, reason)
        for result in RELOAD_RESULTS:
            self.model_reloads.labels(result)
        self._weight_children = {
            family.value: self.decision_model_weight.labels(family.value) for family in Family
        }
        for family in Family:
            for alias in Alias:
                for counter in (self.alias_predictions, self.alias_correct):
                    counter.labels(family.value, alias.value)
                for counter in (self.alias_games, self.alias_game_wins, self.alias_game_losses):
                    counter.labels(family.value, alias.value, DIFFICULTY)
        self._info_labels: dict[tuple[str, str], tuple[str, str, str, str]] = {}
        self.lifecycle: LifecycleCollector | None = None
        self._alias_children: dict[tuple[str, str], tuple[Counter, Counter]] = {}

    def _children(self, policy: str, model_type: str) -> tuple[dict[str, Counter], ...]:
        key = (policy, model_type)
        cached = self._round_children.get(key)
        if cached is None:
            labels = (policy, model_type, DIFFICULTY)
            moves = {m.value: self.action_predictions.labels(*labels, m.value) for m in MOVES}
            rounds = {
                Outcome.WIN.value: self.action_wins.labels(*labels),
                Outcome.LOSE.value: self.action_losses.labels(*labels),
                Outcome.DRAW.value: self.action_ties.labels(*labels),
            }
            games = {
                "played": self.games.labels(*labels),
                Winner.BOT.value: self.game_wins.labels(*labels),
                Winner.USER.value: self.game_losses.labels(*labels),
            }
            cached = self._round_children[key] = (moves, rounds, games)
        return cached

    def record_round(
        self, policy: str, model_type: str, bot_move: str, bot_outcome: Outcome
    ) -> None:
        moves, rounds, _ = self._children(policy, model_type)
        moves[bot_move].inc()
        rounds[bot_outcome.value].inc()

    def record_game_end(self, policy: str, model_type: str, winner: Winner) -> None:
        _, _, games = self._children(policy, model_type)
        games["played"].inc()
        if winner is not Winner.TIE:
            games[winner.value].inc()

    def record_alias_prediction(self, family: str, alias: str, correct: bool) -> None:
        key = (family, alias)
        children = self._alias_children.get(key)
        if children is None:
            children = (self.alias_predictions.labels(*key), self.alias_correct.labels(*key))
            self._alias_children[key] = children
        children[0].inc()
        if correct:
            children[1].inc()

    def record_alias_game(self, family: str, alias: str, winner: Winner) -> None:
        labels = (family, alias, DIFFICULTY)
        self.alias_games.labels(*labels).inc()
        if winner is Winner.BOT:
            self.alias_game_wins.labels(*labels).inc()
        elif winner is Winner.USER:
            self.alias_game_losses.labels(*labels).inc()

    def record_fallback(self, family: str, reason: str) -> None:
        self.model_fallbacks.labels(family, reason).inc()

    def record_model_weight(self, family: str, weight: float) -> None:
        child = self._weight_children.get(family)
        if child is None:
            child = self._weight_children[family] = self.decision_model_weight.labels(family)
        child.observe(weight)

    # The model manager reports here (its ManagerMetrics port).

    def model_loaded(self, model: _ServedModel) -> None:
        key = (model.family.value, model.alias.value)
        labels = (*key, str(model.version), model.run_id)
        previous = self._info_labels.get(key)
        if previous is not None and previous != labels:
            self.model_loaded_info.labels(*previous).set(0)
        self.model_loaded_info.labels(*labels).set(1)
        self._info_labels[key] = labels

    def model_unloaded(self, family: Family, alias: Alias) -> None:
        previous = self._info_labels.pop((family.value, alias.value), None)
        if previous is not None:
            self.model_loaded_info.labels(*previous).set(0)

    def load_seconds(self, seconds: float) -> None:
        self.model_load_seconds.observe(seconds)

    def reload_result(self, result: str) -> None:
        self.model_reloads.labels(result).inc()

    def fallback(self, family: str, reason: str) -> None:
        self.record_fallback(family, reason)

    def set_lifecycle_source(
        self, source: Callable[[], LifecycleSnapshot], ttl: float = LIFECYCLE_TTL_S
    ) -> LifecycleCollector:
        """Export the promotion, training and strength series from ``source`` (the database)."""
        if self.lifecycle is not None:
            self.registry.unregister(self.lifecycle)
        self.lifecycle = LifecycleCollector(source, ttl)
        self.registry.register(self.lifecycle)
        return self.lifecycle

    def render(self) -> tuple[bytes, str]:
        """The exposition text for ``/metrics`` (merged over worker processes if several)."""
        if self._multiprocess_dir is not None:
            merged = CollectorRegistry()
            MultiProcessCollector(merged, path=str(self._multiprocess_dir))  # type: ignore[no-untyped-call]
            if self.lifecycle is not None:
                # Read from the database, not from the workers' files: added once, here.
                merged.register(self.lifecycle)
            return generate_latest(merged), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
