"""Offline strength evaluation of the served models (``rps evaluate``, SPEC §4.1).

Every selected family@alias plays the opponent gym in-process with the server's own decision
code (opening, then the decision layer over the alias's model), forced onto that alias, beside
the baselines — value-greedy, frequency-ev and the decision layer without a model — on the same
games. An alias on fallback is reported as such, never scored as if a model had played.
With a store, each evaluated version's figures are persisted (``model_strength``), so /ops, the
metrics and promotion see them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from rps.domain.gym import Strategy
from rps.domain.gym import resolve as resolve_gym
from rps.domain.personas import PersonaName
from rps.domain.policy import Alias, Family
from rps.features.names import FEATURE_COUNT
from rps.persistence.strength_repository import StrengthRecord
from rps.serving.policy import DEFAULT_DECISION, DecisionConfig
from rps.serving.predictor import ModelUnavailable, Predictor
from rps.serving.strength import (
    Contender,
    ServedModel,
    StrengthReport,
    baselines,
    play_gym,
    strength_record,
)


def parse_opponents(names: Iterable[str]) -> list[Strategy]:
    """Gym strategies by name, group, part (``training``, ``holdout``), ``group:part``,
    ``personas`` or ``all``; the pre-gym names (``constant``) still work. ValueError naming the
    bad selector and what is valid."""
    return resolve_gym(names)


def opponent_player_name(opponent: str) -> str:
    """A persona's display name, else the strategy's own name."""
    try:
        return PersonaName(opponent).display_name
    except ValueError:
        return opponent


@dataclass(frozen=True)
class AliasStatus:
    """Whether family@alias has a model to evaluate, before any game is played."""

    family: Family
    alias: Alias
    version: str | None
    fallback_reason: str | None

    @property
    def label(self) -> str:
        return f"{self.family.value}@{self.alias.value}"

    @property
    def on_fallback(self) -> bool:
        return self.fallback_reason is not None


class NoModelToEvaluate(RuntimeError):
    """Every selected family@alias is on fallback: the evaluation would measure baselines only."""


def alias_status(predictor: Predictor, family: Family, alias: Alias) -> AliasStatus:
    """Ask the predictor once, on an all-zero feature row, whether family@alias answers."""
    answer = predictor.predict(family, alias, np.zeros(FEATURE_COUNT, dtype=np.float32))
    if isinstance(answer, ModelUnavailable):
        return AliasStatus(family, alias, None, answer.reason)
    return AliasStatus(family, alias, answer.version, None)


@dataclass
class EvaluationReport:
    """The strength report of every family@alias and the baselines, with each alias's status."""

    strength: StrengthReport
    families: list[Family]
    aliases: list[Alias]
    statuses: dict[tuple[Family, Alias], AliasStatus]

    @property
    def seed(self) -> int:
        return self.strength.seed

    @property
    def games(self) -> int:
        return sum(t.games for t in self.strength.tallies.values())

    @property
    def rounds(self) -> int:
        return sum(t.rounds for t in self.strength.tallies.values())

    @staticmethod
    def contender(family: Family, alias: Alias) -> str:
        return f"{family.value}@{alias.value}"


class StrengthStore(Protocol):
    def add(self, record: StrengthRecord) -> None: ...


class Evaluator:
    """Plays the evaluation's games; persists each evaluated version's figures when given a
    store."""

    def __init__(
        self,
        predictor: Predictor,
        store: StrengthStore | None = None,
        *,
        seed: int,
        decision: DecisionConfig = DEFAULT_DECISION,
    ) -> None:
        self._predictor = predictor
        self._store = store
        self._seed = seed
        self._decision = decision

    def statuses(
        self, families: Sequence[Family], aliases: Sequence[Alias]
    ) -> dict[tuple[Family, Alias], AliasStatus]:
        return {(f, a): alias_status(self._predictor, f, a) for f in families for a in aliases}

    def require_models(
        self, families: Sequence[Family], aliases: Sequence[Alias], *, allow_fallback: bool
    ) -> dict[tuple[Family, Alias], AliasStatus]:
        """Each selected family@alias's status; NoModelToEvaluate when all are on fallback,
        unless ``allow_fallback``."""
        statuses = self.statuses(families, aliases)
        if not allow_fallback and all(s.on_fallback for s in statuses.values()):
            detail = "; ".join(f"{s.label}: {s.fallback_reason}" for s in statuses.values())
            raise NoModelToEvaluate(
                "no model is loaded for any selected family@alias, so every bot would play "
                f"without one ({detail}). Train and sync models first (rps train, "
                "rps sync-cache), or pass --allow-fallback to evaluate the fallback."
            )
        return statuses

    def run(
        self,
        families: Sequence[Family],
        aliases: Sequence[Alias],
        opponents: Sequence[Strategy],
        games: int,
        *,
        allow_fallback: bool = False,
        on_game: Callable[[], None] | None = None,
    ) -> EvaluationReport:
        """Every family@alias and every baseline × opponent, ``games`` games each, the same
        games for all. Raises NoModelToEvaluate, before playing, when every selected
        family@alias is on fallback, unless ``allow_fallback``."""
        if games < 1:
            raise ValueError("games must be at least 1")
        statuses = self.require_models(families, aliases, allow_fallback=allow_fallback)
        contenders: list[Contender] = [
            ServedModel(f, a, self._predictor, self._decision) for f in families for a in aliases
        ]
        contenders += baselines(self._decision.params)
        strength = play_gym(
            contenders,
            opponents,
            games,
            seed=self._seed,
            params_digest=self._decision.params.digest(),
            on_game=on_game,
        )
        return EvaluationReport(strength, list(families), list(aliases), statuses)

    def persist(self, report: EvaluationReport) -> int:
        """Store each evaluated version's figures; returns how many rows were written."""
        if self._store is None:
            return 0
        written = 0
        for (family, alias), status in report.statuses.items():
            if status.on_fallback or status.version is None:
                continue
            self._store.add(
                strength_record(
                    report.strength,
                    report.contender(family, alias),
                    family,
                    status.version,
                    source="evaluate",
                )
            )
            written += 1
        return written


def total_games(
    families: Sequence[Family], aliases: Sequence[Alias], opponents: Sequence[Strategy], games: int
) -> int:
    """How many games a run plays (for progress bars)."""
    return (len(families) * len(aliases) + 3) * len(opponents) * games
