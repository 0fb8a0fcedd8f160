"""The promotion ledger over HTTP (SPEC §7, §9): read it publicly, append to it as an admin, and
the ops page's summary of the whole lifecycle."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StrictBool,
)
from sqlalchemy.exc import IntegrityError

from rps.api.body_limit import TOO_LARGE
from rps.api.deps import AdminDep, ContainerDep
from rps.api.rate_limits import TOO_MANY_REQUESTS, Limit, RateLimited
from rps.api.read_cache import cached_read
from rps.api.schemas import Detail, Text
from rps.bootstrap import Container, ab_split
from rps.bootstrap.promotion import gym_figures, promotion_config
from rps.domain.policy import Alias, Family, Policy
from rps.persistence.ops_queries import CounterfactualFigures
from rps.persistence.promotion_repository import LedgerEvent, new_event_id
from rps.persistence.strength_repository import StrengthRecord
from rps.services.ab_evidence import ab_window_start, sample_ratio
from rps.services.promotion import PromotionService, ServedAliases

router = APIRouter(tags=["promotion"])

Decision = Literal[
    "swap_production_b",
    "retain_production",
    "test_exhausted",
    "insufficient_data",
    "challenger_to_b",
    "alias_reorder",
    "alias_set",
    "rollback",
]


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Detail, "description": "The body is not valid JSON"},
    401: {"model": Detail, "description": "Missing or wrong admin token"},
    403: {"model": Detail, "description": "No admin token is configured on the server"},
    422: {"model": Detail, "description": "Invalid input: the detail names the field"},
}


def _no_nul(value: str) -> str:
    # PostgreSQL cannot store NUL in text: reject it as bad input rather than fail the insert.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


# Text the ledger can store on every backend (valid Unicode, no NUL).
# The schema says "no NUL" too (as a pattern), so clients and fuzzers know it.
LedgerText = Annotated[
    Text, AfterValidator(_no_nul), Field(json_schema_extra={"pattern": "^[^\\u0000]*$"})
]


def _iso_text(value: Any) -> Any:
    # Pydantic would read a bare number as seconds since 1970; the parameter is an ISO time.
    if isinstance(value, str) and not re.match(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("must be an ISO-8601 time such as 2026-11-29T12:00:00Z")
    return value


IsoTime = Annotated[datetime, BeforeValidator(_iso_text)]


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


class LedgerRow(BaseModel):
    id: int | None
    event_id: str
    created_at: str
    model_type: str
    decision: str
    rule: str | None
    source: str
    reason: str
    z: float | None
    p_value: float | None
    sequential_p_value: float | None
    srm_p_value: float | None
    production_version: str | None
    production_wins: int | None
    production_games: int | None
    b_version: str | None
    b_wins: int | None
    b_games: int | None
    reorder_applied: bool
    applied: bool
    rankings: Any = None
    accuracies: Any = None
    assignments_before: dict[str, str | None] | None = None
    assignments_after: dict[str, str | None] | None = None
    details: Any = None


class HistoryResponse(BaseModel):
    events: list[LedgerRow]


def ledger_row(event: LedgerEvent) -> dict[str, Any]:
    data = event.to_json()
    data["id"] = event.id
    data["created_at"] = _iso(event.created_at)
    return data


@router.get(
    "/internal/promotion/history", response_model=HistoryResponse, responses={422: _ERRORS[422]}
)
async def promotion_history(
    container: ContainerDep,
    limit: int = Query(50, ge=1, le=1000),
    model_type: Family | None = Query(None, description="Only this family"),
    decision: Decision | None = Query(None),
    since: IsoTime | None = Query(None, description="ISO-8601 time; rows at or after it"),
) -> dict[str, Any]:
    """Ledger rows, newest first (public, read-only)."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    if since is not None:
        try:
            since = since.astimezone(UTC)
        except OverflowError:
            raise HTTPException(422, "since: out of range once converted to UTC") from None
    events = await asyncio.to_thread(
        container.promotions.events,
        limit=limit,
        model_type=model_type.value if model_type else None,
        decision=decision,
        since=since,
    )
    return {"events": [ledger_row(e) for e in events]}


def _not_a_flag(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be a number, not true or false")
    return value


# `true` is not a count and `0` is not a flag (a report is taken as it is, not guessed); an
# integral number such as 3.0 is a count, as JSON Schema's "integer" says.
StrictNumber = Annotated[float, Strict()]
# The ledger's columns are 32-bit integers on PostgreSQL.
MAX_COUNT = 2**31 - 1
Count = Annotated[int, Field(ge=0, le=MAX_COUNT), BeforeValidator(_not_a_flag)]


class PromotionReport(BaseModel):
    """A decision made by an external promoter, recorded in the ledger as it is."""

    model_config = ConfigDict(extra="forbid")

    model_type: Family
    decision: Decision
    reason: LedgerText = Field(min_length=1, max_length=2000)
    source: LedgerText = Field("external", min_length=1, max_length=32)
    event_id: str | None = Field(None, min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    rule: Literal["winrate", "sequential"] | None = None
    z: StrictNumber | None = Field(None, allow_inf_nan=False)
    p_value: StrictNumber | None = Field(None, ge=0.0, le=1.0)
    srm_p_value: StrictNumber | None = Field(None, ge=0.0, le=1.0)
    production_version: LedgerText | None = Field(None, max_length=32)
    production_wins: Count | None = None
    production_games: Count | None = None
    b_version: LedgerText | None = Field(None, max_length=32)
    b_wins: Count | None = None
    b_games: Count | None = None
    reorder_applied: StrictBool = False
    assignments_before: dict[Alias, LedgerText] | None = None
    assignments_after: dict[Alias, LedgerText] | None = None

    def wins_within_games(self) -> str | None:
        for arm in ("production", "b"):
            wins, played = getattr(self, f"{arm}_wins"), getattr(self, f"{arm}_games")
            if wins is not None and played is not None and wins > played:
                return f"{arm}_wins ({wins}) exceeds {arm}_games ({played})"
        return None


class ReportResponse(BaseModel):
    recorded: bool
    event: LedgerRow


@router.post(
    "/internal/promotion/report",
    dependencies=[AdminDep],
    response_model=ReportResponse,
    responses={**_ERRORS, **TOO_LARGE, **TOO_MANY_REQUESTS},
)
async def promotion_report(body: PromotionReport, container: ContainerDep) -> Any:
    """Append an external promoter's decision to the ledger [admin]. The alias moves it
    describes are the promoter's to make; with the same ``event_id`` twice, one row."""
    problem = body.wins_within_games()
    if problem:
        raise HTTPException(422, problem)
    event_id = body.event_id or new_event_id()
    existing = await asyncio.to_thread(container.promotions.event_by_id, event_id)
    if existing is not None:
        return {"recorded": False, "event": ledger_row(existing)}
    event = LedgerEvent(
        event_id=event_id,
        created_at=datetime.now(UTC),
        model_type=body.model_type.value,
        decision=body.decision,
        source=body.source,
        reason=body.reason,
        rule=body.rule,
        z=body.z,
        p_value=body.p_value,
        srm_p_value=body.srm_p_value,
        production_version=body.production_version,
        production_wins=body.production_wins,
        production_games=body.production_games,
        b_version=body.b_version,
        b_wins=body.b_wins,
        b_games=body.b_games,
        reorder_applied=body.reorder_applied,
        applied=True,
        assignments_before=_aliases(body.assignments_before),
        assignments_after=_aliases(body.assignments_after),
    )
    try:
        row_id = await asyncio.to_thread(container.promotions.add_event, event)
    except IntegrityError:
        # The same event_id arrived twice at once: the other request stored it.
        stored = await asyncio.to_thread(container.promotions.event_by_id, event_id)
        if stored is None:
            raise
        return {"recorded": False, "event": ledger_row(stored)}
    if container.metrics.lifecycle is not None:
        container.metrics.lifecycle.refresh()
    return {"recorded": True, "event": ledger_row(replace(event, id=row_id))}


def _aliases(values: dict[Alias, LedgerText] | None) -> dict[str, str] | None:
    return {a.value: v for a, v in values.items()} if values else None


# -- /ops/summary --------------------------------------------------------------------------------


def _gym(record: StrengthRecord | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {
        "holdout_win_rate": record.holdout_win_rate,
        "training_win_rate": record.training_win_rate,
        "holdout_margin": record.holdout_margin,
        "layer_holdout_win_rate": record.layer_holdout_win_rate,
        "greedy_holdout_win_rate": record.greedy_holdout_win_rate,
        "gate_passed": record.gate_passed,
        "below_gate": record.below_gate,
        "gate_reason": record.gate_reason,
        "games_per_opponent": record.games_per_opponent,
        "scoring_version": record.scoring_version,
        "evaluated_at": _iso(record.evaluated_at),
        "source": record.source,
    }


def _counterfactual(figures: CounterfactualFigures | None) -> dict[str, Any]:
    figures = figures or CounterfactualFigures()
    return {
        "model_rounds": figures.model_rounds,
        "win_rate": figures.win_rate,
        "mean_margin": figures.mean_margin,
    }


def _preview_service(
    container: Container, status: dict[tuple[str, str], dict[str, Any]]
) -> PromotionService:
    """The promotion service over the versions this process serves, to preview the next run
    (read-only: it never moves an alias)."""
    served = {
        (Family(family), Alias(alias)): (str(row["version"]), str(row.get("run_id") or ""))
        for (family, alias), row in status.items()
        if row.get("version") is not None
    }
    return PromotionService(
        container.promotions,
        container.lifecycle,
        ServedAliases(served),
        None,
        promotion_config(container.settings),
        gym=gym_figures(container.database),
    )


def ops_summary(container: Container, days: int = 14, ledger_rows: int = 20) -> dict[str, Any]:
    settings = container.settings
    ops = container.ops
    status = {(row["family"], row["alias"]): row for row in container.models.status()}
    shares = ab_split(settings)
    # The figures of the versions being served, read once for every family and alias.
    served = {
        key: str(row["version"]) for key, row in status.items() if row.get("version") is not None
    }
    scoring_version = container.gameplay.scoring_version
    strength = (
        container.strength.latest((family, version) for (family, _), version in served.items())
        if served
        else {}
    )
    counterfactual = ops.counterfactual_figures(
        ((family, alias, version) for (family, alias), version in served.items()),
        scoring_version,
    )
    # The evidence promotion counts (SPEC §7): the same games, the same sources.
    sources = settings.promotion_sources
    preview = _preview_service(container, status)
    families = []
    for policy in Policy:
        family = policy.family
        assigned = container.promotions.current_assignments(family.value)
        aliases = []
        windows: dict[Alias, datetime | None] = {}
        for alias in Alias:
            loaded = status.get((family.value, alias.value), {})
            version = loaded.get("version")
            record = assigned.get(alias.value)
            since = record.assigned_at if record and record.version == version else None
            windows[alias] = since
            predictions = correct = played = wins = 0
            if version is not None:
                predictions, correct = ops.predictions_since(
                    family.value, alias.value, version, since
                )
                if alias in (Alias.PRODUCTION, Alias.B):
                    games = container.promotions.version_games(
                        family.value, alias.value, version, since, sources=sources
                    )
                    played, wins = games.games, games.bot_wins
            aliases.append(
                {
                    "alias": alias.value,
                    "version": version,
                    "run_id": (loaded.get("run_id") or "")[:8] or None,
                    "source": loaded.get("source", "fallback"),
                    "fallback_reason": loaded.get("fallback_reason"),
                    "assigned_at": _iso(since),
                    "predictions": predictions,
                    "accuracy": correct / predictions if predictions else None,
                    "games": played,
                    "bot_wins": wins,
                    "win_rate": wins / played if played else None,
                    "gym": _gym(strength.get((family.value, version))) if version else None,
                    "counterfactual": _counterfactual(
                        counterfactual.get((family.value, alias.value, version))
                        if version
                        else None
                    ),
                }
            )
        srm = sample_ratio(
            container.promotions,
            family,
            ab_window_start(windows),
            shares[family] if settings.ENABLE_AB_TESTING else None,
            sources,
        )
        daily = [
            {
                "date": d.day.isoformat(),
                "alias": d.alias,
                "predictions": d.predictions,
                "accuracy": d.correct / d.predictions if d.predictions else None,
                "games": d.games,
                "win_rate": d.bot_wins / d.games if d.games else None,
            }
            for d in ops.daily(family.value, days)
        ]
        families.append(
            {
                "model_type": family.value,
                "policy": policy.value,
                "ab_split": {
                    "enabled": srm["enabled"],
                    "configured_b": srm["expected_b_share"],
                    "observed_b": srm["observed_b_share"],
                    "games": srm["production_games"] + srm["b_games"],
                    "srm_p_value": srm["p_value"],
                },
                "aliases": aliases,
                "promotion": preview.preview(family),
                "daily": daily,
            }
        )
    ledger = [ledger_row(e) for e in container.promotions.events(limit=ledger_rows)]
    runs = [
        {
            "id": run.id,
            "started_at": _iso(run.started_at),
            "finished_at": _iso(run.finished_at),
            "status": run.status.value,
            "trigger": run.trigger,
            "rows_used": run.rows_used,
            "models_trained": run.models_trained,
            "models_registered": run.models_registered,
        }
        for run in container.lifecycle.training_runs(limit=10)
    ]
    return {
        "generated_at": _iso(datetime.now(UTC)),
        "scoring_version": scoring_version,
        "families": families,
        "ledger": ledger,
        "training_runs": runs,
    }


class GymStrength(BaseModel):
    """The version's newest offline figures against the opponent gym (SPEC §4.1): win rates
    are shares of games, the margin is points per round."""

    holdout_win_rate: float | None
    training_win_rate: float | None
    holdout_margin: float | None
    layer_holdout_win_rate: float | None = Field(
        description="The decision layer without a model, on the same holdout games"
    )
    greedy_holdout_win_rate: float | None = Field(
        description="Value-greedy (EV under uniform P), on the same holdout games"
    )
    gate_passed: bool | None
    below_gate: bool = Field(
        description="Registered although it failed the gate: its family had no Production"
    )
    gate_reason: str | None
    games_per_opponent: int
    scoring_version: str = Field(description="The decision layer's digest the gym was played with")
    evaluated_at: str | None
    source: str = Field(description="training or evaluate")


class CounterfactualSummary(BaseModel):
    """What the version's own decisions as this alias would have achieved, per model round,
    scored by the app's current decision layer only."""

    model_rounds: int
    win_rate: float | None = Field(description="Share of its rounds its move would have won")
    mean_margin: float | None = Field(description="Points gained minus lost per model round")


class AliasSummary(BaseModel):
    alias: str
    version: str | None
    run_id: str | None
    source: str
    fallback_reason: str | None
    assigned_at: str | None
    predictions: int
    accuracy: float | None
    games: int
    bot_wins: int
    win_rate: float | None
    gym: GymStrength | None
    counterfactual: CounterfactualSummary


class AbSplit(BaseModel):
    enabled: bool
    configured_b: float
    observed_b: float | None
    games: int
    srm_p_value: float | None


class DailyRow(BaseModel):
    date: str
    alias: str
    predictions: int
    accuracy: float | None
    games: int
    win_rate: float | None


class ArmFigures(BaseModel):
    version: str
    games: int
    bot_wins: int


class RankedChallenger(BaseModel):
    rank: int
    alias: str | None
    version: str
    ranked_on: str = Field(description="live (counterfactual margin), gym or none")
    margin: float | None
    scored_rounds: int
    gym_holdout_win_rate: float | None
    accuracy: float | None
    predictions: int


class PromotionPreview(BaseModel):
    """What the next promotion run would decide from the evidence so far (SPEC §7)."""

    rule: str
    next_decision: str
    test_outcome: str
    reason: str
    alpha: float
    max_games: int | None
    min_games: int
    production: ArmFigures
    b: ArmFigures | None
    z: float | None
    p_value: float | None
    always_valid_p: float | None = Field(description="The sequential test's p (min(1, 1/Λ))")
    log_likelihood_ratio: float | None
    windows: dict[str, str | None]
    challengers: list[RankedChallenger] = Field(
        description="B, shadow1 and shadow2 best first, as a concluded test would rank them"
    )
    assignments_after: dict[str, str | None]


class FamilySummary(BaseModel):
    model_type: str
    policy: str
    ab_split: AbSplit
    aliases: list[AliasSummary]
    promotion: PromotionPreview | None = Field(
        description="The next promotion run's decision; null when Production is not served"
    )
    daily: list[DailyRow]


class TrainingRunRow(BaseModel):
    id: int
    started_at: str | None
    finished_at: str | None
    status: str
    trigger: str
    rows_used: int | None
    models_trained: int
    models_registered: int


class OpsSummary(BaseModel):
    generated_at: str
    scoring_version: str = Field(
        description="The decision layer's digest: counterfactual figures count only its rows"
    )
    families: list[FamilySummary]
    ledger: list[LedgerRow]
    training_runs: list[TrainingRunRow]


@router.get(
    "/ops/summary",
    response_model=OpsSummary,
    tags=["ops"],
    responses={422: _ERRORS[422], **TOO_MANY_REQUESTS},
    # An expensive read (SPEC §9): limited per client, and served from the read cache.
    dependencies=[Depends(RateLimited(Limit.READ))],
)
@cached_read
async def get_ops_summary(
    container: ContainerDep,
    days: int = Query(14, ge=1, le=90, description="Days of daily figures for the charts"),
) -> dict[str, Any]:
    """Per family the four aliases (with their versions' gym strength and counterfactual
    figures), the A/B split, the latest ledger rows, recent training runs, and daily accuracy
    and win rate per alias (the ops page)."""
    return await asyncio.to_thread(ops_summary, container, days)
