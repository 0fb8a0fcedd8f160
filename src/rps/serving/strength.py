"""Strength against the opponent gym (SPEC §4.1): games won by each bot, side by side with the
baselines, on the same games.

Every contender — a family@alias playing through the server's own decision code, or a
baseline — plays the same games: each game's id (hence its round values), opening and
opponent's random stream derive only from the run's seed, the opponent and the game's index
(common random numbers), so differences between contenders are differences of play, and paired
comparisons are tight. Figures are the game win rate with a Wilson 95% interval and the mean
point margin per round, per opponent, per group and part (training, holdout), overall (equal
weight per opponent: every opponent plays the same number of games) and for the worst opponent.

Baselines: ``value-greedy`` (EV under uniform P: the highest-valued move in mid-game),
``frequency-ev`` (EV under this game's Laplace-smoothed user frequencies) and
``model-free-layer`` (the decision layer without the model expert: what the model adds).
"""

from __future__ import annotations

import math
import random
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from rps.domain.decision import (
    DEFAULT_PARAMS,
    DecisionParams,
    GameBelief,
    frequency_probabilities,
    value_greedy_move,
)
from rps.domain.game import Game
from rps.domain.gym import GymGroup, GymPart, Strategy
from rps.domain.history import PlayedRound
from rps.domain.move import MOVES, Move, Winner
from rps.domain.openings import OPENING_ROUNDS, draw_opening
from rps.domain.policy import (
    Alias,
    Family,
    Policy,
    ProbabilitySource,
    apply_ev_terms,
    choose_ev_move,
    ev_terms,
)
from rps.features.online import OnlineFeatureState
from rps.persistence.strength_repository import StrengthRecord
from rps.serving.policy import DEFAULT_DECISION, Decision, DecisionConfig, decide
from rps.serving.predictor import Predictor

BASELINE_GREEDY = "value-greedy"
BASELINE_FREQUENCY = "frequency-ev"
BASELINE_LAYER = "model-free-layer"
BASELINES = (BASELINE_GREEDY, BASELINE_FREQUENCY, BASELINE_LAYER)
# The two-sided 95% normal quantile.
Z_95 = 1.959963984540054


# -- the games ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GymGame:
    """One game of the gym, the same for every contender."""

    opponent: str
    index: int
    game_id: str
    opening_name: str
    opening: tuple[Move, ...]
    opponent_seed: int
    bot_seed: int


def seeded_game_id(rng: random.Random) -> str:
    """A UUID4-shaped game id drawn from ``rng``, so seeded runs play the same games."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def gym_game(seed: int, opponent: str, index: int) -> GymGame:
    """Game ``index`` against ``opponent`` in a run seeded ``seed``: independent of the other
    opponents and of who plays the bot side."""
    rng = random.Random(f"{seed}:{opponent}:{index}")
    game_id = seeded_game_id(rng)
    opening = draw_opening(rng)
    return GymGame(
        opponent,
        index,
        game_id,
        opening.name.value,
        opening.resolve(game_id),
        rng.getrandbits(64),
        rng.getrandbits(64),
    )


class ContenderGame(Protocol):
    """A contender's side of one game: asked for each move, told each played round."""

    def move(self, game: Game) -> Move: ...

    def learn(self, played: PlayedRound) -> None: ...


class Contender(Protocol):
    @property
    def name(self) -> str: ...

    def start(self, spec: GymGame, tally: Tally) -> ContenderGame: ...


@dataclass
class Tally:
    """One contender against one opponent, over all its games (outcomes kept in game order for
    paired comparisons)."""

    games: int = 0
    bot_wins: int = 0
    user_wins: int = 0
    ties: int = 0
    rounds: int = 0
    margin_tenths: int = 0  # Σ (bot − opponent) per round, in tenths
    model_rounds: int = 0
    correct: int = 0
    fallback_rounds: int = 0
    fallback_reasons: Counter[str] = field(default_factory=Counter)
    versions: set[str] = field(default_factory=set)
    wins_by_game: list[int] = field(default_factory=list)

    @property
    def win_rate(self) -> float:
        return self.bot_wins / self.games if self.games else 0.0

    @property
    def win_interval(self) -> tuple[float, float]:
        return wilson_interval(self.bot_wins, self.games)

    @property
    def margin_per_round(self) -> float:
        return self.margin_tenths / 10 / self.rounds if self.rounds else 0.0

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.model_rounds if self.model_rounds else None

    @property
    def on_fallback(self) -> bool:
        return self.fallback_rounds > 0

    def add_round(self, played: PlayedRound) -> None:
        self.rounds += 1
        self.margin_tenths += played.bot_delta - played.user_delta

    def add_decision(self, played: PlayedRound, decision: Decision) -> None:
        if decision.source is ProbabilitySource.MODEL and decision.probabilities is not None:
            self.model_rounds += 1
            p = decision.probabilities
            predicted = MOVES[0 if p[0] >= p[1] and p[0] >= p[2] else (1 if p[1] >= p[2] else 2)]
            self.correct += predicted is played.user_move
            if decision.model_version:
                self.versions.add(decision.model_version)
        elif decision.source is ProbabilitySource.FALLBACK:
            self.fallback_rounds += 1
            self.fallback_reasons[decision.fallback_reason or "unknown"] += 1

    def add_game(self, winner: Winner | None) -> None:
        self.games += 1
        won = winner is Winner.BOT
        self.bot_wins += won
        self.wins_by_game.append(int(won))
        if winner is Winner.USER:
            self.user_wins += 1
        elif winner is Winner.TIE:
            self.ties += 1


# -- contenders ----------------------------------------------------------------------------------


class _Opening:
    """Plays the game's opening in rounds 1–3, then asks ``after``."""

    __slots__ = ("_after", "_opening")

    def __init__(self, opening: tuple[Move, ...], after: Callable[[Game], Move]) -> None:
        self._opening = opening
        self._after = after

    def move(self, game: Game) -> Move:
        n = game.next_round_no
        if n <= OPENING_ROUNDS and len(self._opening) >= n:
            return self._opening[n - 1]
        return self._after(game)

    def learn(self, played: PlayedRound) -> None:
        return None


@dataclass(frozen=True)
class ValueGreedy:
    """EV under uniform P."""

    name: str = BASELINE_GREEDY

    def start(self, spec: GymGame, tally: Tally) -> ContenderGame:
        return _Opening(
            spec.opening,
            lambda game: value_greedy_move(game.next_values(), game.bot_score, game.user_score),
        )


@dataclass(frozen=True)
class FrequencyEv:
    """EV under this game's Laplace-smoothed user move frequencies."""

    name: str = BASELINE_FREQUENCY

    def start(self, spec: GymGame, tally: Tally) -> ContenderGame:
        def after(game: Game) -> Move:
            probabilities = frequency_probabilities([r.user_move for r in game.rounds])
            terms = ev_terms(game.next_values(), game.bot_score, game.user_score)
            return choose_ev_move(apply_ev_terms(terms, probabilities))

        return _Opening(spec.opening, after)


class _LayerGame:
    __slots__ = ("_belief", "_opening")

    def __init__(self, opening: tuple[Move, ...], params: DecisionParams) -> None:
        self._opening = opening
        self._belief = GameBelief(params)

    def move(self, game: Game) -> Move:
        n = game.next_round_no
        if n <= OPENING_ROUNDS and len(self._opening) >= n:
            return self._opening[n - 1]
        values = game.next_values()
        self._belief.prepare(values)
        terms = ev_terms(values, game.bot_score, game.user_score)
        return self._belief.choose(terms, None, None).move

    def learn(self, played: PlayedRound) -> None:
        self._belief.push(played)


@dataclass(frozen=True)
class ModelFreeLayer:
    """The decision layer without the model expert (the fallback's play)."""

    params: DecisionParams = DEFAULT_PARAMS
    name: str = BASELINE_LAYER

    def start(self, spec: GymGame, tally: Tally) -> ContenderGame:
        return _LayerGame(spec.opening, self.params)


class _ServedGame:
    """A family@alias as the server plays it: :func:`decide` with the layer's state kept."""

    __slots__ = (
        "_alias",
        "_belief",
        "_config",
        "_decision",
        "_features",
        "_opening",
        "_policy",
        "_predictor",
        "_rng",
        "_tally",
    )

    def __init__(
        self,
        spec: GymGame,
        policy: Policy,
        alias: Alias,
        predictor: Predictor,
        config: DecisionConfig,
        tally: Tally,
    ) -> None:
        self._opening = spec.opening
        self._policy = policy
        self._alias = alias
        self._predictor = predictor
        self._config = config
        self._tally = tally
        self._rng = random.Random(spec.bot_seed)
        self._belief = GameBelief(config.params)
        self._features = OnlineFeatureState()
        self._decision: Decision | None = None

    def move(self, game: Game) -> Move:
        self._decision = decide(
            game,
            self._policy,
            self._opening,
            self._alias,
            self._predictor,
            self._rng,
            self._belief,
            self._features,
            self._config,
        )
        return self._decision.move

    def learn(self, played: PlayedRound) -> None:
        decision = self._decision
        assert decision is not None
        self._tally.add_decision(played, decision)
        self._features.push(played)
        self._belief.push(played, decision.model_probabilities() or None)


@dataclass(frozen=True)
class ServedModel:
    """family@alias through the server's decision code, forced onto that alias."""

    family: Family
    alias: Alias
    predictor: Predictor
    config: DecisionConfig = DEFAULT_DECISION
    label: str | None = None  # the name in reports (default family@alias)

    @property
    def name(self) -> str:
        return self.label or f"{self.family.value}@{self.alias.value}"

    def start(self, spec: GymGame, tally: Tally) -> ContenderGame:
        policy = next(p for p in Policy if p.family is self.family)
        return _ServedGame(spec, policy, self.alias, self.predictor, self.config, tally)


def baselines(params: DecisionParams = DEFAULT_PARAMS) -> list[Contender]:
    return [ValueGreedy(), FrequencyEv(), ModelFreeLayer(params)]


# -- playing ------------------------------------------------------------------------------------


def play_game(contender: Contender, strategy: Strategy, spec: GymGame, tally: Tally) -> Game:
    """One game of ``strategy`` (user side) against ``contender``; tallied into ``tally``."""
    game = Game(spec.game_id)
    player = strategy.player(random.Random(spec.opponent_seed))
    side = contender.start(spec, tally)
    while not game.finished:
        user_move = player(game.view("user"))
        played = game.play(user_move, side.move(game))
        side.learn(played)
        tally.add_round(played)
    tally.add_game(game.winner)
    return game


@dataclass
class StrengthReport:
    """Every contender against every opponent, on the same games."""

    seed: int
    games_per_opponent: int
    opponents: list[Strategy]
    contenders: list[str]
    tallies: dict[tuple[str, str], Tally] = field(default_factory=dict)
    params_digest: str = ""

    def tally(self, contender: str, opponent: str) -> Tally:
        return self.tallies.setdefault((contender, opponent), Tally())

    def merged(self, other: StrengthReport) -> StrengthReport:
        """This report with ``other``'s contenders added (same seed, games and opponents)."""
        if (other.seed, other.games_per_opponent) != (self.seed, self.games_per_opponent) or [
            s.name for s in other.opponents
        ] != [s.name for s in self.opponents]:
            raise ValueError("reports of different games cannot be merged")
        return StrengthReport(
            self.seed,
            self.games_per_opponent,
            self.opponents,
            [*self.contenders, *(c for c in other.contenders if c not in self.contenders)],
            {**self.tallies, **other.tallies},
            self.params_digest or other.params_digest,
        )

    def opponents_of(
        self, part: GymPart | None = None, group: GymGroup | None = None
    ) -> list[Strategy]:
        return [
            s
            for s in self.opponents
            if (part is None or s.part is part) and (group is None or s.group is group)
        ]

    def summary(self, contender: str, opponents: Sequence[Strategy]) -> Summary:
        """Pooled figures of ``contender`` over ``opponents`` (equal games per opponent, so
        pooling weighs each opponent equally)."""
        tallies = [self.tallies[(contender, s.name)] for s in opponents]
        return Summary.of(tallies)

    def worst(self, contender: str, opponents: Sequence[Strategy] | None = None) -> Worst | None:
        """The opponent ``contender`` did worst against (lowest win rate, then lowest margin)."""
        chosen = list(opponents if opponents is not None else self.opponents)
        if not chosen:
            return None
        key = min(
            chosen,
            key=lambda s: (
                self.tallies[(contender, s.name)].win_rate,
                self.tallies[(contender, s.name)].margin_per_round,
            ),
        )
        tally = self.tallies[(contender, key.name)]
        low, high = tally.win_interval
        return Worst(key.name, key.group.value, key.part.value, tally.win_rate, low, high)

    def paired(self, contender: str, baseline: str, opponents: Sequence[Strategy]) -> Paired:
        """``contender`` − ``baseline`` win rate on the same games, with a 95% interval."""
        diffs: list[int] = []
        for s in opponents:
            mine = self.tallies[(contender, s.name)].wins_by_game
            theirs = self.tallies[(baseline, s.name)].wins_by_game
            diffs.extend(a - b for a, b in zip(mine, theirs, strict=True))
        return Paired.of(diffs)

    def to_dict(self) -> dict[str, Any]:
        """Everything, as JSON-able values (``rps evaluate --json``, MLflow, model_strength)."""
        return {
            "seed": self.seed,
            "games_per_opponent": self.games_per_opponent,
            "params": self.params_digest,
            "opponents": [
                {
                    "name": s.name,
                    "group": s.group.value,
                    "part": s.part.value,
                    "description": s.description,
                }
                for s in self.opponents
            ],
            "contenders": {c: self.contender_dict(c) for c in self.contenders},
        }

    def contender_dict(self, contender: str) -> dict[str, Any]:
        figures: dict[str, Any] = {
            "overall": self.summary(contender, self.opponents).to_dict(),
        }
        for part in GymPart:
            chosen = self.opponents_of(part)
            if chosen:
                figures[part.value] = self.summary(contender, chosen).to_dict()
        groups: dict[str, Any] = {}
        for group in GymGroup:
            entry: dict[str, Any] = {}
            for part in GymPart:
                chosen = self.opponents_of(part, group)
                if chosen:
                    entry[part.value] = self.summary(contender, chosen).to_dict()
            chosen = self.opponents_of(None, group)
            if chosen:
                entry["all"] = self.summary(contender, chosen).to_dict()
                groups[group.value] = entry
        figures["groups"] = groups
        worst = {
            "overall": self.worst(contender),
            **{p.value: self.worst(contender, self.opponents_of(p)) for p in GymPart},
        }
        figures["worst"] = {k: (w.to_dict() if w else None) for k, w in worst.items()}
        figures["opponents"] = {
            s.name: _tally_dict(self.tallies[(contender, s.name)]) for s in self.opponents
        }
        if contender not in BASELINES:
            paired: dict[str, Any] = {}
            for baseline in BASELINES:
                if baseline not in self.contenders:
                    continue
                paired[baseline] = {
                    part.value: self.paired(contender, baseline, self.opponents_of(part)).to_dict()
                    for part in GymPart
                    if self.opponents_of(part)
                }
                paired[baseline]["overall"] = self.paired(
                    contender, baseline, self.opponents
                ).to_dict()
            figures["paired"] = paired
            totals = [self.tallies[(contender, s.name)] for s in self.opponents]
            model_rounds = sum(t.model_rounds for t in totals)
            figures["model_rounds"] = model_rounds
            figures["accuracy"] = (
                sum(t.correct for t in totals) / model_rounds if model_rounds else None
            )
            figures["fallback_rounds"] = sum(t.fallback_rounds for t in totals)
            figures["versions"] = sorted(set().union(*(t.versions for t in totals)))
        return figures


def _tally_dict(tally: Tally) -> dict[str, Any]:
    low, high = tally.win_interval
    return {
        "games": tally.games,
        "bot_wins": tally.bot_wins,
        "user_wins": tally.user_wins,
        "ties": tally.ties,
        "win_rate": tally.win_rate,
        "low": low,
        "high": high,
        "margin_per_round": tally.margin_per_round,
        "accuracy": tally.accuracy,
        "fallback_rounds": tally.fallback_rounds,
    }


@dataclass(frozen=True)
class Summary:
    games: int
    wins: int
    rounds: int
    margin_tenths: int

    @classmethod
    def of(cls, tallies: Iterable[Tally]) -> Summary:
        games = wins = rounds = margin = 0
        for t in tallies:
            games += t.games
            wins += t.bot_wins
            rounds += t.rounds
            margin += t.margin_tenths
        return cls(games, wins, rounds, margin)

    @property
    def win_rate(self) -> float:
        return self.wins / self.games if self.games else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.wins, self.games)

    @property
    def margin_per_round(self) -> float:
        return self.margin_tenths / 10 / self.rounds if self.rounds else 0.0

    def to_dict(self) -> dict[str, Any]:
        low, high = self.interval
        return {
            "games": self.games,
            "wins": self.wins,
            "win_rate": self.win_rate,
            "low": low,
            "high": high,
            "margin_per_round": self.margin_per_round,
        }


@dataclass(frozen=True)
class Worst:
    opponent: str
    group: str
    part: str
    win_rate: float
    low: float
    high: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "opponent": self.opponent,
            "group": self.group,
            "part": self.part,
            "win_rate": self.win_rate,
            "low": self.low,
            "high": self.high,
        }


@dataclass(frozen=True)
class Paired:
    """A paired difference of win rates on the same games, with a normal 95% interval."""

    games: int
    difference: float
    low: float
    high: float

    @classmethod
    def of(cls, diffs: Sequence[int]) -> Paired:
        n = len(diffs)
        if n == 0:
            return cls(0, 0.0, -1.0, 1.0)
        mean = sum(diffs) / n
        variance = sum((d - mean) ** 2 for d in diffs) / (n - 1) if n > 1 else 1.0
        half = Z_95 * math.sqrt(variance / n)
        return cls(n, mean, mean - half, mean + half)

    def to_dict(self) -> dict[str, Any]:
        return {
            "games": self.games,
            "difference": self.difference,
            "low": self.low,
            "high": self.high,
        }


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


def play_gym(
    contenders: Sequence[Contender],
    opponents: Sequence[Strategy],
    games: int,
    *,
    seed: int,
    params_digest: str = "",
    on_game: Callable[[], None] | None = None,
    on_played: Callable[[Contender, GymGame, Game], None] | None = None,
) -> StrengthReport:
    """Every contender plays ``games`` games against every opponent, the same games for all."""
    if games < 1:
        raise ValueError("games must be at least 1")
    report = StrengthReport(
        seed, games, list(opponents), [c.name for c in contenders], params_digest=params_digest
    )
    for strategy in opponents:
        specs = [gym_game(seed, strategy.name, i) for i in range(games)]
        for contender in contenders:
            tally = report.tally(contender.name, strategy.name)
            for spec in specs:
                game = play_game(contender, strategy, spec, tally)
                if on_played is not None:
                    on_played(contender, spec, game)
                if on_game is not None:
                    on_game()
    return report


# -- the acceptance gate (SPEC §5) ----------------------------------------------------------------


@dataclass(frozen=True)
class StrengthGate:
    """How much worse than the model-free layer and than value-greedy (percentage points of
    win rate, training part of the gym) a candidate may make the bot."""

    max_below_layer: float = 2.0
    max_below_greedy: float = 0.0

    def judge(self, report: StrengthReport, contender: str) -> tuple[bool, str]:
        """Whether ``contender`` passes, and why, on the gym's training part (the holdout part
        is never used to select anything)."""
        part = report.opponents_of(GymPart.TRAINING) or report.opponents
        mine = report.summary(contender, part).win_rate * 100
        layer = report.summary(BASELINE_LAYER, part).win_rate * 100
        greedy = report.summary(BASELINE_GREEDY, part).win_rate * 100
        problems = []
        if mine < layer - self.max_below_layer:
            problems.append(
                f"gym win rate {mine:.1f}% is {layer - mine:.1f} points below the model-free "
                f"layer's {layer:.1f}% (allowed {self.max_below_layer:g})"
            )
        if mine < greedy - self.max_below_greedy:
            problems.append(
                f"gym win rate {mine:.1f}% is {greedy - mine:.1f} points below value-greedy's "
                f"{greedy:.1f}% (allowed {self.max_below_greedy:g})"
            )
        if problems:
            return False, "; ".join(problems)
        return True, (
            f"gym win rate {mine:.1f}% (model-free layer {layer:.1f}%, value-greedy {greedy:.1f}%)"
        )


def strength_metrics(report: StrengthReport, contender: str) -> dict[str, float]:
    """The flat figures training logs to MLflow for ``contender`` (SPEC §5)."""
    metrics: dict[str, float] = {}

    def put(prefix: str, summary: Summary) -> None:
        metrics[f"{prefix}_win_rate"] = summary.win_rate
        metrics[f"{prefix}_margin"] = summary.margin_per_round

    put("gym", report.summary(contender, report.opponents))
    for part in GymPart:
        chosen = report.opponents_of(part)
        if chosen:
            put(f"gym_{part.value}", report.summary(contender, chosen))
            for baseline in BASELINES:
                if baseline in report.contenders:
                    key = baseline.replace("-", "_")
                    metrics[f"gym_{part.value}_{key}_win_rate"] = report.summary(
                        baseline, chosen
                    ).win_rate
                    if contender not in BASELINES:
                        paired = report.paired(contender, baseline, chosen)
                        metrics[f"gym_{part.value}_vs_{key}"] = paired.difference
    for group in GymGroup:
        chosen = report.opponents_of(None, group)
        if chosen:
            put(f"gym_{group.value}", report.summary(contender, chosen))
    return metrics


def cached_baselines(
    opponents: Sequence[Strategy], games: int, seed: int, params: DecisionParams
) -> StrengthReport:
    """The baselines' report for these games, computed once per process (every candidate of a
    training session plays the same games)."""
    key = (tuple(s.name for s in opponents), games, seed, params)
    cached = _BASELINE_CACHE.get(key)
    if cached is None:
        cached = play_gym(
            baselines(params), opponents, games, seed=seed, params_digest=params.digest()
        )
        _BASELINE_CACHE.clear()
        _BASELINE_CACHE[key] = cached
    return cached


_BASELINE_CACHE: dict[tuple[Any, ...], StrengthReport] = {}


def strength_record(
    report: StrengthReport,
    contender: str,
    family: Family,
    version: str | None,
    *,
    source: str,
    run_id: str | None = None,
    gate_passed: bool | None = None,
    below_gate: bool = False,
    gate_reason: str | None = None,
) -> StrengthRecord:
    """``contender``'s figures in ``report`` as a ``model_strength`` row."""
    holdout = report.opponents_of(GymPart.HOLDOUT)
    training = report.opponents_of(GymPart.TRAINING)

    def rate(name: str, opponents: Sequence[Strategy]) -> float | None:
        if not opponents or name not in report.contenders:
            return None
        return report.summary(name, opponents).win_rate

    return StrengthRecord(
        model_type=family.value,
        version=version,
        run_id=run_id,
        source=source,
        games_per_opponent=report.games_per_opponent,
        seed=report.seed,
        scoring_version=report.params_digest,
        holdout_win_rate=rate(contender, holdout),
        training_win_rate=rate(contender, training),
        overall_win_rate=rate(contender, report.opponents),
        holdout_margin=report.summary(contender, holdout).margin_per_round if holdout else None,
        layer_holdout_win_rate=rate(BASELINE_LAYER, holdout),
        greedy_holdout_win_rate=rate(BASELINE_GREEDY, holdout),
        gate_passed=gate_passed,
        below_gate=below_gate,
        gate_reason=gate_reason,
        figures=report.contender_dict(contender),
    )
