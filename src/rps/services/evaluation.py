"""Offline evaluation of the served models (``rps evaluate``).

Every family@alias plays scripted opponents in-process with the server's own decision code
(opening, then EV over the model's probabilities, else the fallback persona, SPEC §4), forced onto
that alias instead of the A/B assignment. Per family, alias and opponent it reports the mean
point margin per round, the game win rate with a Wilson 95% interval and the model's action
accuracy. An alias on fallback is reported as such, never scored as if a model had played.

Games are reproducible: each one's id, opening and random streams derive from the run's seed and
the game's (family, alias, opponent, index), so adding an opponent does not change the others.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from rps.domain.game import Game
from rps.domain.history import PlayedRound, PlayerView
from rps.domain.move import MOVES, Move, Outcome, Winner, beater
from rps.domain.openings import draw_opening
from rps.domain.personas import PERSONAS, PersonaName, most_common
from rps.domain.policy import Alias, Family, Policy, ProbabilitySource
from rps.features.names import FEATURE_COUNT
from rps.persistence.records import GameRecord, GameSource, RoundRecord
from rps.services.bot import Decision
from rps.services.playout import finished, play_out, seeded_game_id
from rps.serving.predictor import ModelUnavailable, Predictor

Opponent = Callable[[PlayerView, random.Random], Move]

_WRITE_BATCH_GAMES = 50
# The two-sided 95% normal quantile.
Z_95 = 1.959963984540054


# -- generic opponents (the user side's view, like the personas) -------------------------------


def uniform_random(view: PlayerView, rng: random.Random) -> Move:
    """Each move with probability 1/3: no model can beat chance against it."""
    return rng.choice(MOVES)


def constant_rock(view: PlayerView, rng: random.Random) -> Move:
    """Always rock."""
    return Move.ROCK


def cycle(view: PlayerView, rng: random.Random) -> Move:
    """Rock, paper, scissors, rock, ... by rounds played."""
    return MOVES[view.rounds_played % 3]


def frequency(view: PlayerView, rng: random.Random) -> Move:
    """The beater of the bot's most frequent move so far (ties and no history: rock → paper)."""
    return beater(most_common(view.opponent_moves))


def win_stay_lose_shift(view: PlayerView, rng: random.Random) -> Move:
    """Repeat my move after a win; after a loss play what would have beaten the bot's last move;
    after a draw shift to the next move in the rock → paper → scissors cycle. First move random."""
    if not view.my_moves:
        return rng.choice(MOVES)
    last = view.my_results[-1]
    if last is Outcome.WIN:
        return view.my_moves[-1]
    if last is Outcome.LOSE:
        return beater(view.opponent_moves[-1])
    return beater(view.my_moves[-1])  # the next in the cycle is the move's beater


def highest_valued(view: PlayerView, rng: random.Random) -> Move:
    """Always this round's highest-valued move."""
    return view.values.best()


def lowest_valued(view: PlayerView, rng: random.Random) -> Move:
    """Always this round's lowest-valued move."""
    return view.values.lowest()


GENERIC_OPPONENTS: dict[str, Opponent] = {
    "random": uniform_random,
    "constant": constant_rock,
    "cycle": cycle,
    "frequency": frequency,
    "wsls": win_stay_lose_shift,
    "highest": highest_valued,
    "lowest": lowest_valued,
}
OPPONENTS: dict[str, Opponent] = {
    **{persona.value: rule for persona, rule in PERSONAS.items()},
    **GENERIC_OPPONENTS,
}


def parse_opponents(names: Iterable[str]) -> list[str]:
    """Opponent names, lower-cased and de-duplicated in order; ValueError listing the valid ones."""
    chosen: list[str] = []
    for raw in names:
        name = raw.strip().lower()
        if not name:
            continue
        if name not in OPPONENTS:
            raise ValueError(
                f"unknown opponent {raw.strip()!r}: expected one of {', '.join(OPPONENTS)}"
            )
        if name not in chosen:
            chosen.append(name)
    if not chosen:
        raise ValueError(f"no opponent given: choose from {', '.join(OPPONENTS)}")
    return chosen


_FAMILY_NAMES: dict[str, Family] = {
    **{f.value: f for f in Family},
    **{p.value: p.family for p in Policy},
    "feedforward": Family.FEEDFORWARD_NN,
    "mnlogit": Family.MULTINOMIAL_LOGISTIC,
    "logistic": Family.MULTINOMIAL_LOGISTIC,
}


def parse_families(names: Iterable[str]) -> list[Family]:
    """Families by name, short name or policy (brian, forrest, logan); ValueError otherwise."""
    chosen: list[Family] = []
    for raw in names:
        key = raw.strip().lower()
        if not key:
            continue
        if key not in _FAMILY_NAMES:
            valid = ", ".join(f.value for f in Family)
            raise ValueError(f"unknown model type {raw.strip()!r}: expected one of {valid}")
        if _FAMILY_NAMES[key] not in chosen:
            chosen.append(_FAMILY_NAMES[key])
    return chosen


def parse_aliases(names: Iterable[str]) -> list[Alias]:
    """Aliases in their exact case (SPEC §5); ValueError listing the valid ones otherwise."""
    chosen: list[Alias] = []
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        try:
            alias = Alias(name)
        except ValueError:
            valid = ", ".join(a.value for a in Alias)
            raise ValueError(f"unknown alias {name!r}: expected one of {valid}") from None
        if alias not in chosen:
            chosen.append(alias)
    return chosen


def opponent_player_name(opponent: str) -> str:
    """The stored player name: a persona's display name (as `rps simulate` stores it), else the
    opponent's own name."""
    try:
        return PersonaName(opponent).display_name
    except ValueError:
        return opponent


# -- statistics ---------------------------------------------------------------------------------


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion; (0, 1) when there are no trials.

    Unlike the normal approximation it stays inside [0, 1] and is sensible at 0 or n successes,
    which small evaluations against deterministic opponents hit all the time.
    """
    if trials <= 0:
        return (0.0, 1.0)
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must lie in 0..{trials}, got {successes}")
    p = successes / trials
    z2 = z * z
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / (1 + z2 / trials)
    # At 0 or n successes the bound is exactly 0 or 1; floating point would give 1e-17 off.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return (low, high)


# -- the evaluation -----------------------------------------------------------------------------


@dataclass
class CellResult:
    """One family@alias against one opponent, over all its games."""

    games: int = 0
    bot_wins: int = 0
    user_wins: int = 0
    ties: int = 0
    rounds: int = 0
    margin_tenths: int = 0  # Σ (bot − opponent) points per round, in tenths
    model_rounds: int = 0
    correct: int = 0
    fallback_rounds: int = 0
    fallback_reasons: Counter[str] = field(default_factory=Counter)
    versions: set[str] = field(default_factory=set)

    @property
    def margin_per_round(self) -> float:
        """Mean points per round the bot gained over its opponent."""
        return self.margin_tenths / 10 / self.rounds if self.rounds else 0.0

    @property
    def win_rate(self) -> float:
        return self.bot_wins / self.games if self.games else 0.0

    @property
    def win_interval(self) -> tuple[float, float]:
        return wilson_interval(self.bot_wins, self.games)

    @property
    def accuracy(self) -> float | None:
        """Share of model rounds whose argmax was the opponent's move; None with no model round."""
        return self.correct / self.model_rounds if self.model_rounds else None

    @property
    def on_fallback(self) -> bool:
        """Some round past the opening was played by the fallback persona, not the model."""
        return self.fallback_rounds > 0

    def add_round(self, played: PlayedRound, decision: Decision) -> None:
        self.rounds += 1
        self.margin_tenths += played.bot_delta - played.user_delta
        if decision.source is ProbabilitySource.MODEL and decision.probabilities is not None:
            self.model_rounds += 1
            self.correct += predicted_move(decision.probabilities) is played.user_move
            if decision.model_version:
                self.versions.add(decision.model_version)
        elif decision.source is ProbabilitySource.FALLBACK:
            self.fallback_rounds += 1
            self.fallback_reasons[decision.fallback_reason or "unknown"] += 1

    def add_game(self, winner: Winner | None) -> None:
        self.games += 1
        if winner is Winner.BOT:
            self.bot_wins += 1
        elif winner is Winner.USER:
            self.user_wins += 1
        elif winner is Winner.TIE:
            self.ties += 1


def predicted_move(probabilities: Sequence[float]) -> Move:
    """The model's argmax; ties go to the first in rock, paper, scissors order."""
    return MOVES[int(np.argmax(probabilities))]


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


@dataclass
class EvaluationReport:
    seed: int
    games_per_pair: int
    families: list[Family]
    aliases: list[Alias]
    opponents: list[str]
    statuses: dict[tuple[Family, Alias], AliasStatus]
    cells: dict[tuple[Family, Alias, str], CellResult] = field(default_factory=dict)
    persisted_games: int = 0

    def cell(self, family: Family, alias: Alias, opponent: str) -> CellResult:
        return self.cells.setdefault((family, alias, opponent), CellResult())

    @property
    def games(self) -> int:
        return sum(c.games for c in self.cells.values())

    @property
    def rounds(self) -> int:
        return sum(c.rounds for c in self.cells.values())


class NoModelToEvaluate(RuntimeError):
    """Every selected family@alias is on fallback: the evaluation would measure personas only."""


def alias_status(predictor: Predictor, family: Family, alias: Alias) -> AliasStatus:
    """Ask the predictor once, on an all-zero feature row, whether family@alias answers."""
    answer = predictor.predict(family, alias, np.zeros(FEATURE_COUNT, dtype=np.float32))
    if isinstance(answer, ModelUnavailable):
        return AliasStatus(family, alias, None, answer.reason)
    return AliasStatus(family, alias, answer.version, None)


_POLICY_OF = {policy.family: policy for policy in Policy}


class PlayedGameStore(Protocol):
    """Where finished games go (the GameRepository; a list in tests)."""

    def add_played_games(
        self, played_games: Sequence[tuple[GameRecord, Sequence[RoundRecord]]]
    ) -> None: ...


class Evaluator:
    """Plays the evaluation's games; stores them (``source=simulated``, ``is_test``) only when
    given a repository."""

    def __init__(
        self, predictor: Predictor, repository: PlayedGameStore | None = None, *, seed: int
    ) -> None:
        self._predictor = predictor
        self._repo = repository
        self._seed = seed

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
                "no model is loaded for any selected family@alias, so every bot would play its "
                f"fallback persona ({detail}). Train and sync models first (rps train, "
                "rps sync-cache), or pass --allow-fallback to evaluate the fallback personas."
            )
        return statuses

    def play_one(
        self, family: Family, alias: Alias, opponent: str, index: int, cell: CellResult
    ) -> tuple[GameRecord, list[RoundRecord]]:
        """One game of ``opponent`` (user side) against family@alias; tallied into ``cell``."""
        rng = random.Random(f"{self._seed}:{family.value}:{alias.value}:{opponent}:{index}")
        game_id = seeded_game_id(rng)
        opening = draw_opening(rng)
        opening_seq = opening.resolve(game_id)
        opponent_rng = random.Random(rng.getrandbits(64))
        bot_rng = random.Random(rng.getrandbits(64))
        play_opponent = OPPONENTS[opponent]
        policy = _POLICY_OF[family]
        game = Game(game_id)
        played = play_out(
            game,
            lambda view: play_opponent(view, opponent_rng),
            policy=policy,
            opening=opening_seq,
            alias=alias,
            predictor=self._predictor,
            rng=bot_rng,
            model_type=family.value,
            on_round=cell.add_round,
        )
        cell.add_game(game.winner)
        record = GameRecord(
            id=game_id,
            session_id=f"evaluate-{self._seed}",
            player_name=opponent_player_name(opponent),
            policy=policy.value,
            model_type=family.value,
            bot_model_alias=alias.value,
            model_version=self._predictor.version_of(family, alias),
            difficulty_mode="normal",
            is_test=True,
            opening_name=opening.name.value,
            opening_seq=opening_seq,
            source=GameSource.SIMULATED,
            created_at=played[0].created_at,
        )
        return finished(record, game, played), played

    def run(
        self,
        families: Sequence[Family],
        aliases: Sequence[Alias],
        opponents: Sequence[str],
        games: int,
        *,
        allow_fallback: bool = False,
        on_game: Callable[[], None] | None = None,
    ) -> EvaluationReport:
        """Every family@alias × opponent, ``games`` games each.

        Raises NoModelToEvaluate, before playing, when every selected family@alias is on
        fallback, unless ``allow_fallback``.
        """
        if games < 1:
            raise ValueError("games must be at least 1")
        statuses = self.require_models(families, aliases, allow_fallback=allow_fallback)
        report = EvaluationReport(
            self._seed, games, list(families), list(aliases), list(opponents), statuses
        )
        pending: list[tuple[GameRecord, list[RoundRecord]]] = []
        for family in families:
            for alias in aliases:
                for opponent in opponents:
                    cell = report.cell(family, alias, opponent)
                    for index in range(games):
                        game = self.play_one(family, alias, opponent, index, cell)
                        if self._repo is not None:
                            pending.append(game)
                            if len(pending) >= _WRITE_BATCH_GAMES:
                                report.persisted_games += self._store(pending)
                                pending = []
                        if on_game:
                            on_game()
        if pending:
            report.persisted_games += self._store(pending)
        return report

    def _store(self, pending: list[tuple[GameRecord, list[RoundRecord]]]) -> int:
        assert self._repo is not None
        self._repo.add_played_games(pending)
        return len(pending)
