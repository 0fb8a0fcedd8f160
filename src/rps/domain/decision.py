"""The decision layer (SPEC §4): the probabilities that enter the EV rule, blended online from the
model and from what this game has shown so far.

A model trained on other players can be confidently wrong about this one, and a wrong P makes
the EV rule pick low-value moves. So every model round the bot blends experts:

* **in-game experts**, shared by every alias of the family. Each one watches one *frame*: a
  reference move known before the user moves (the user's own last move, the bot's last move,
  this round's highest-valued move, the bot's favourite move, the move in the bot's favourite
  value tier, the bot's predicted move, plain rock) and counts how the user's move stood to it
  (the same move, its beater, or its prey), Laplace-smoothed and optionally decayed. One
  mechanism covers frequency players (the rock frame), cycles and win-stay/lose-shift (the own
  move frame, conditioned on the last result), copy/beat-last players, value-tier players and
  players who counter the bot's habits. A uniform expert completes the set. They are mixed
  by Hedge: multiplicative updates by each expert's likelihood of the move the user played, with
  a learning rate below 1 and a share of weight returned to the prior every round, so a weight
  can recover; uniform's prior is the largest, because in-game experts look good by chance in
  short games. Against a random player the mixture stays close to uniform, i.e. close to
  value-greedy.
* **the model expert**, one per alias: the alias's calibrated probabilities, weighted against the
  in-game mixture by the same kind of update, from a prior set by the model's calibrated
  validation log-loss. A model that keeps being wrong about this player loses its weight within a
  few rounds; one that is right keeps it.

The blend's EV move is the bot's move (ties: rock, paper, scissors). Everything here is pure and
deterministic given the game's history and each round's model probabilities, so a stored game
can be replayed exactly (``rps parity``), and the same code serves, simulates and evaluates.

It runs on the request path for four aliases each model round, so it is written for speed: plain
floats and lists, work shared across aliases, no allocation that can be avoided.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache

from rps.domain.history import PlayedRound
from rps.domain.move import MOVES, Move, Outcome
from rps.domain.policy import EvTerms, Probabilities, apply_ev_terms, choose_ev_move, ev_terms
from rps.domain.round_values import RoundValues

UNIFORM: Probabilities = (1 / 3, 1 / 3, 1 / 3)
LN3 = math.log(3)

# The frames, in the order the experts are stored and reported. A frame's reference move is
# known before the user moves; the expert counts the user's move relative to it.
FRAME_ROCK = "frequency"  # plain move frequencies (reference: rock)
FRAME_OWN = "own-last"  # the user's own last move (repeat, cycles)
FRAME_OWN_BY_RESULT = "own-last-by-result"  # the same, per last result (win-stay/lose-shift)
FRAME_BOT = "bot-last"  # the bot's last move (copy / beat / lose-to it)
FRAME_VALUE = "value-tier"  # this round's highest-valued move (value tiers)
FRAME_BOT_FAVOURITE = "bot-favourite"  # the bot's most frequent move (frequency counters)
FRAME_BOT_RECENT = "bot-favourite-recent"  # the same over the bot's last three moves
FRAME_BOT_TIER = "bot-tier"  # the move in the bot's most frequent value tier now
FRAME_BOT_RECENT_TIER = "bot-tier-recent"  # the same over the bot's last three rounds
FRAME_BOT_LAST_TIER = "bot-last-tier"  # the move in the value tier the bot played last round
FRAME_BOT_NEXT = "bot-next"  # the bot's next move as its own transitions predict it
FRAME_BOT_NEXT_TIER = "bot-next-tier"  # the move in the tier its tier transitions predict
FRAMES: tuple[str, ...] = (
    FRAME_ROCK,
    FRAME_OWN,
    FRAME_OWN_BY_RESULT,
    FRAME_BOT,
    FRAME_VALUE,
    FRAME_BOT_FAVOURITE,
    FRAME_BOT_RECENT,
    FRAME_BOT_TIER,
    FRAME_BOT_RECENT_TIER,
    FRAME_BOT_LAST_TIER,
    FRAME_BOT_NEXT,
    FRAME_BOT_NEXT_TIER,
)
EXPERT_NAMES: tuple[str, ...] = ("uniform", *FRAMES)
MODEL_EXPERT = "model"
# The layer's code revision, part of the parameters' digest: bump it whenever the experts or the
# rules change, so stored beliefs and shadow figures of the old layer are not mixed with new ones.
LAYER_REVISION = 2
# Which P chose the move (see GameBelief.choose).
ACTED_BLEND = "blend"
ACTED_IN_GAME = "in-game"
ACTED_GREEDY = "greedy"


@dataclass(frozen=True, slots=True)
class DecisionParams:
    """The layer's parameters (settings ``DECISION_*``; defaults chosen on the gym's training
    part by ``benchmarks/strength.py``)."""

    learning_rate: float = 0.8
    """Hedge's learning rate among the frames: weights move by likelihood**rate."""
    share: float = 0.05
    """Share of the frames' weights returned to their (equal) prior after every round."""
    uniform_prior: float = 0.3
    """Uniform's prior weight against the frames' mixture."""
    uniform_learning_rate: float = 0.8
    """Learning rate of uniform against the frames' mixture."""
    uniform_share: float = 0.05
    """Share of uniform's weight returned to its prior after every round."""
    pseudo_count: float = 1.0
    """Laplace pseudo-count per relation in each frame's counts."""
    decay: float = 0.8
    """Each frame's counts are multiplied by this every round (recent rounds count more)."""
    model_learning_rate: float = 0.8
    """Learning rate of the model expert against the in-game mixture."""
    model_share: float = 0.02
    """Share of the model's weight returned to its prior after every round."""
    model_prior_floor: float = 0.05
    model_prior_ceiling: float = 0.85
    model_prior_slope: float = 2.0
    """Prior model weight = clamp(slope·(ln 3 − calibrated val log-loss), floor, ceiling): the
    nats per round the model gained over uniform on its validation games, scaled."""
    evidence_threshold: float = 0.3
    """Below this in-game evidence (nats the mixture gained over uniform) the bot plays
    value-greedy."""
    model_evidence_burden: float = 0.75
    """A model's blend starts this many nats short of the evidence it needs (its own record in
    this game must earn the deviations from value-greedy, whatever it scored elsewhere)."""
    model_advantage_threshold: float = 0.0
    """The blend acts only while the model has added at least this many nats to the in-game
    experts' predictions in this game: a model that misleads them stops deciding."""
    sample_margin: float = 0.0
    """When above 0, the bot draws among moves whose EV is within this margin of the best
    (seeded by game id and round) instead of always the best. Off by default."""

    def digest(self) -> str:
        """A short hash of the layer's revision and parameters, stored with every belief (the
        scoring version): a change of either changes what a stored choice means."""
        text = f"revision={LAYER_REVISION}," + ",".join(
            f"{k}={v!r}" for k, v in sorted(asdict(self).items())
        )
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def model_prior(self, val_log_loss: float | None) -> float:
        """The model expert's starting weight from its calibrated validation log-loss (the
        floor when unknown: an unmeasured model has to earn its weight)."""
        if val_log_loss is None or not math.isfinite(val_log_loss):
            return self.model_prior_floor
        prior = self.model_prior_slope * (LN3 - val_log_loss)
        return min(self.model_prior_ceiling, max(self.model_prior_floor, prior))


DEFAULT_PARAMS = DecisionParams()


@dataclass(frozen=True, slots=True)
class Belief:
    """What the layer believed in one round: the blended P and the experts' weights."""

    probabilities: Probabilities
    model_weight: float | None  # None: no model expert (the layer without a model)
    expert_weights: tuple[float, ...]  # in EXPERT_NAMES order, as shares of the whole blend
    params_digest: str
    acted: str | None = None  # which P chose the move: blend, in-game or greedy
    # The in-game mixture, when it acted in place of a blend that includes a model.
    acting: Probabilities | None = None

    @property
    def acting_probabilities(self) -> Probabilities:
        """The P whose EVs chose the move."""
        if self.acted == ACTED_GREEDY:
            return UNIFORM
        if self.acted == ACTED_IN_GAME and self.acting is not None:
            return self.acting
        return self.probabilities

    def weights(self) -> dict[str, float]:
        """Every expert's share of the blend, by name (the model first when there is one), as
        stored: the model's exactly, the others to six significant digits."""
        shown = {
            name: float("%.6g" % weight)  # noqa: UP031 - the stored form's own format
            for name, weight in zip(EXPERT_NAMES, self.expert_weights, strict=True)
        }
        if self.model_weight is None:
            return shown
        return {MODEL_EXPERT: self.model_weight, **shown}

    @classmethod
    def from_json(cls, text: str) -> Belief:
        """A stored belief (``to_json``'s form); ValueError if it is not one."""
        try:
            data = json.loads(text)
            p = [float(x) for x in data["p"]]
            weights = {str(k): float(v) for k, v in dict(data["w"]).items()}
            digest = str(data["params"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"not a stored belief: {exc}") from None
        if len(p) != 3:
            raise ValueError("a stored belief has three probabilities")
        experts = tuple(weights.get(name, 0.0) for name in EXPERT_NAMES)
        acted = data.get("acted")
        q = data.get("q")
        acting: Probabilities | None = None
        if q is not None:
            if len(q) != 3:
                raise ValueError("a stored belief's acting P has three probabilities")
            acting = (float(q[0]), float(q[1]), float(q[2]))
        return cls(
            (p[0], p[1], p[2]),
            weights.get(MODEL_EXPERT),
            experts,
            digest,
            None if acted is None else str(acted),
            acting,
        )

    def to_json(self) -> str:
        """The stored form: ``{"p": [...], "w": {name: weight}, "params": digest, "acted": ...,
        "q": [...]}`` (``q``: the acting in-game P, when it is not ``p``), written without
        ``json.dumps`` (it runs for every model round)."""
        # The model's weight exactly (a replay starts from it), the others to six digits.
        experts = _WEIGHTS_FORMAT % self.expert_weights
        if self.model_weight is not None:
            experts = f'"{MODEL_EXPERT}": {self.model_weight!r}, {experts}'
        tail = "" if self.acted is None else f', "acted": "{self.acted}"'
        if self.acting is not None:
            q0, q1, q2 = self.acting
            tail += f', "q": [{q0!r}, {q1!r}, {q2!r}]'
        p0, p1, p2 = self.probabilities
        return (
            f'{{"p": [{p0!r}, {p1!r}, {p2!r}], "w": {{{experts}}}, '
            f'"params": "{self.params_digest}"{tail}}}'
        )


@dataclass(frozen=True, slots=True)
class LayerChoice:
    """One alias's decision: its belief, which P acted (``blend``, ``in-game`` or ``greedy``),
    the EVs under that P and the move."""

    belief: Belief
    acted: str
    expected_values: tuple[float, float, float]
    move: Move


def _argmax3(a: float, b: float, c: float) -> int:
    if a >= b and a >= c:
        return 0
    return 1 if b >= c else 2


_OUTCOME_INDEX = {Outcome.WIN: 0, Outcome.LOSE: 1, Outcome.DRAW: 2}
_N_FRAMES = len(FRAMES)
_BY_RESULT = FRAMES.index(FRAME_OWN_BY_RESULT)
# The by-result frame keeps one row of counts per last result, after the other frames' rows.
_COUNT_ROWS = _N_FRAMES + 2
# Each frame's row of counts (3 floats per row) by the last result (-1: none yet; the by-result
# frame keeps one row per result, its first where its own index is, the others at the end).
_OFFSETS: dict[int, tuple[int, ...]] = {
    result: tuple(
        3 * (_N_FRAMES - 1 + result if k == _BY_RESULT and result > 0 else k)
        for k in range(_N_FRAMES)
    )
    for result in (-1, 0, 1, 2)
}
# Expert names for the stored form, formatted in one go (it runs for every model round).
_WEIGHTS_FORMAT = ", ".join(f'"{name}": %.6g' for name in EXPERT_NAMES)


@dataclass(slots=True)
class AliasWeight:
    """The model expert's weight for one alias of a game (its prior, then updated each round),
    and the evidence its blend has gathered (as ``GameBelief.evidence``, from its own P)."""

    prior: float
    weight: float
    evidence: float = 0.0
    # Σ log(P_blend / P_mixture) of the user's moves so far: what the model added to the in-game
    # experts in this game (negative when it misled them)
    advantage: float = 0.0


@dataclass(slots=True)
class GameBelief:
    """The layer's state for one game: the in-game experts (shared by the family's aliases) and
    each alias's model weight. Push every played round, in order."""

    params: DecisionParams = DEFAULT_PARAMS
    rounds_played: int = 0
    # per frame: counts of the user's move relative to its reference (same, beater, prey)
    # rows of (same, beater, prey) counts, three floats per row, one flat list: a game in
    # progress keeps this state in memory, and fewer objects mean less for the collector
    _counts: list[float] = field(default_factory=list)
    _weights: list[float] = field(default_factory=list)  # the frames', summing to 1
    _uniform: float = -1.0
    _aliases: dict[str, AliasWeight] = field(default_factory=dict)
    # running facts the references need
    _user_last: int = -1
    _bot_last: int = -1
    _last_result: int = -1
    _bot_counts: list[int] = field(default_factory=lambda: [0, 0, 0])
    _bot_recent: list[int] = field(default_factory=list)
    _bot_tier_counts: list[int] = field(default_factory=lambda: [0, 0, 0])
    _bot_last_tier: int = -1
    _bot_transitions: list[int] = field(default_factory=lambda: [0] * 9)  # 3 × from + to
    _bot_recent_tiers: list[int] = field(default_factory=list)
    _bot_tier_transitions: list[int] = field(default_factory=lambda: [0] * 9)
    # the experts' predictions for the round being decided, reused when it is pushed
    _pending_round: int = 0
    _pending_refs: Sequence[int] = ()
    _pending_offsets: Sequence[int] = ()
    _pending_predictions: Sequence[Probabilities] = ()
    _pending_mixture: Probabilities = UNIFORM
    _pending_frames: Probabilities = UNIFORM
    _digest: str = ""
    # (terms, tiebreak, move) of the aliases this round that are not yet trusted
    _move_cache: tuple[EvTerms, float | None, Move] | None = None
    _third_powered: float = 0.0  # (1/3)**learning_rate
    _third_powered_uniform: float = 0.0  # (1/3)**uniform_learning_rate
    # Σ log(P_mixture(user's move) · 3) over the rounds so far: the in-game evidence that this
    # player is predictable at all (negative for a random player: the mixture pays for its
    # chance fits).
    evidence: float = 0.0

    def __post_init__(self) -> None:
        self._digest = _digest_of(self.params)
        self._third_powered = (1.0 / 3.0) ** self.params.learning_rate
        self._third_powered_uniform = (1.0 / 3.0) ** self.params.uniform_learning_rate
        if not self._counts:
            self._counts = [0.0] * (3 * _COUNT_ROWS)
            self._weights = [1.0 / _N_FRAMES] * _N_FRAMES
            self._uniform = self.params.uniform_prior

    # -- the references --------------------------------------------------------------------------

    def _references(self, values: RoundValues) -> list[int]:
        """Each frame's reference move index for the coming round (−1: not known yet)."""
        ranked = _ranked(values)
        bot_last = self._bot_last
        if bot_last < 0:
            return [0, -1, -1, -1, ranked[0], -1, -1, -1, -1, -1, -1, -1]
        c = self._bot_counts
        r = [0, 0, 0]
        for m in self._bot_recent:
            r[m] += 1
        rt = [0, 0, 0]
        for tier in self._bot_recent_tiers:
            rt[tier] += 1
        t = self._bot_tier_counts
        row = self._bot_transitions
        o = 3 * bot_last
        r0, r1, r2 = row[o], row[o + 1], row[o + 2]
        predicted = _argmax3(r0, r1, r2) if (r0 or r1 or r2) else -1
        last_tier = self._bot_last_tier
        trow = self._bot_tier_transitions
        o = 3 * last_tier
        t0, t1, t2 = trow[o], trow[o + 1], trow[o + 2]
        next_tier = ranked[_argmax3(t0, t1, t2)] if (t0 or t1 or t2) else -1
        user_last = self._user_last
        return [
            0,
            user_last,
            user_last if self._last_result >= 0 else -1,
            bot_last,
            ranked[0],
            _argmax3(c[0], c[1], c[2]),
            _argmax3(r[0], r[1], r[2]),
            ranked[_argmax3(t[0], t[1], t[2])],
            ranked[_argmax3(rt[0], rt[1], rt[2])],
            ranked[last_tier],
            predicted,
            next_tier,
        ]

    # -- deciding --------------------------------------------------------------------------------

    def prepare(self, values: RoundValues) -> Probabilities:
        """Compute the in-game experts for the coming round (once, for every alias); returns
        their mixture: the layer's P without a model."""
        refs = self._references(values)
        a = self.params.pseudo_count
        a3 = 3.0 * a
        offsets = _OFFSETS[self._last_result]
        counts = self._counts
        predictions: list[Probabilities] = []
        append = predictions.append
        f0 = f1 = f2 = unknown = 0.0
        for ref, o, w in zip(refs, offsets, self._weights, strict=True):
            if ref < 0:
                append(UNIFORM)
                unknown += w
                continue
            c0, c1, c2 = counts[o], counts[o + 1], counts[o + 2]
            total = c0 + c1 + c2 + a3
            same = (c0 + a) / total
            up = (c1 + a) / total
            down = (c2 + a) / total
            # move (ref + k) % 3 stands in relation k to the reference: same, beater, prey
            if ref == 0:
                append((same, up, down))
                f0 += w * same
                f1 += w * up
                f2 += w * down
            elif ref == 1:
                append((down, same, up))
                f0 += w * down
                f1 += w * same
                f2 += w * up
            else:
                append((up, down, same))
                f0 += w * up
                f1 += w * down
                f2 += w * same
        if unknown:
            third = unknown / 3.0
            f0 += third
            f1 += third
            f2 += third
        u = self._uniform
        rest = 1.0 - u
        third = u / 3.0
        self._pending_round = self.rounds_played + 1
        self._pending_refs = refs
        self._pending_offsets = offsets
        self._pending_predictions = predictions
        self._pending_frames = (f0, f1, f2)
        self._pending_mixture = (third + rest * f0, third + rest * f1, third + rest * f2)
        return self._pending_mixture

    def _ensure_prepared(self, values: RoundValues) -> None:
        if self._pending_round != self.rounds_played + 1:
            self.prepare(values)

    def knows(self, alias: str) -> bool:
        """Whether ``alias`` has its model weight in this game already."""
        return alias in self._aliases

    def register_alias(self, alias: str, prior: float) -> AliasWeight:
        """The model weight of ``alias`` in this game (created at ``prior`` on first use; its
        evidence starts ``model_evidence_burden`` below the in-game evidence, or below 0)."""
        state = self._aliases.get(alias)
        if state is None:
            start = min(0.0, self.evidence) - self.params.model_evidence_burden
            state = self._aliases[alias] = AliasWeight(prior, prior, start)
        return state

    def _expert_weights(self, scale: float) -> tuple[float, ...]:
        """Uniform's and the frames' shares of a blend that gives them ``scale`` in all."""
        u = self._uniform
        frames = scale * (1.0 - u)
        shares = [frames * w for w in self._weights]
        shares.insert(0, scale * u)
        return tuple(shares)

    def belief(self, alias: str | None, model: Probabilities | None) -> Belief:
        """The blend for the coming round: the in-game mixture alone (``model`` None), or
        mixed with ``alias``'s model probabilities. Call ``prepare`` first."""
        mixture = self._pending_mixture
        if model is None or alias is None:
            return Belief(mixture, None, self._expert_weights(1.0), self._digest)
        state = self._aliases.get(alias)
        w = state.weight if state is not None else self.params.model_prior_floor
        rest = 1.0 - w
        blended = (
            w * model[0] + rest * mixture[0],
            w * model[1] + rest * mixture[1],
            w * model[2] + rest * mixture[2],
        )
        return Belief(blended, w, self._expert_weights(rest), self._digest)

    def choose(
        self,
        terms: EvTerms,
        alias: str | None,
        model: Probabilities | None,
        *,
        tiebreak: float | None = None,
    ) -> LayerChoice:
        """The belief, the P that acts, its EVs and the move for ``alias`` (``model`` None: no
        model expert). Call ``prepare`` first.

        The blend acts once its own record in this game clears ``evidence_threshold`` (a model
        starts ``model_evidence_burden`` short of it); until then the in-game mixture acts if its
        record clears the threshold, else uniform P, i.e. value-greedy. ``tiebreak`` in [0, 1)
        draws among moves within ``sample_margin`` of the best EV when sampling is on (the
        caller derives it from the game id and round)."""
        mixture = self._pending_mixture
        state = self._aliases.get(alias) if alias is not None and model is not None else None
        if model is None or alias is None:
            weight = None
            blended = mixture
            experts = self._expert_weights(1.0)
        else:
            w = state.weight if state is not None else self.params.model_prior_floor
            rest = 1.0 - w
            weight = w
            blended = (
                w * model[0] + rest * mixture[0],
                w * model[1] + rest * mixture[1],
                w * model[2] + rest * mixture[2],
            )
            experts = self._expert_weights(rest)
        acted, probabilities = self._acting(blended, state)
        belief = Belief(
            blended,
            weight,
            experts,
            self._digest,
            acted,
            probabilities if acted == ACTED_IN_GAME and state is not None else None,
        )
        evs = apply_ev_terms(terms, probabilities)
        return LayerChoice(belief, acted, evs, self._pick(evs, tiebreak))

    def move_for(
        self,
        terms: EvTerms,
        alias: str,
        model: Probabilities,
        *,
        tiebreak: float | None = None,
    ) -> Move:
        """Only the move ``choose`` would give for ``alias`` (shadow scoring: no Belief built)."""
        state = self._aliases.get(alias)
        threshold = self.params.evidence_threshold
        if (
            state is None
            or state.evidence < threshold
            or state.advantage < self.params.model_advantage_threshold
        ):
            # Not the blend: the in-game mixture or value-greedy, the same for every such alias.
            cache = self._move_cache
            if cache is None or cache[0] is not terms or cache[1] != tiebreak:
                in_game = self.evidence >= threshold
                acting = self._pending_mixture if in_game else UNIFORM
                cache = self._move_cache = (
                    terms,
                    tiebreak,
                    self._pick(apply_ev_terms(terms, acting), tiebreak),
                )
            return cache[2]
        mixture = self._pending_mixture
        w = state.weight
        rest = 1.0 - w
        blended = (
            w * model[0] + rest * mixture[0],
            w * model[1] + rest * mixture[1],
            w * model[2] + rest * mixture[2],
        )
        return self._pick(apply_ev_terms(terms, blended), tiebreak)

    def _acting(
        self, blended: Probabilities, state: AliasWeight | None
    ) -> tuple[str, Probabilities]:
        """Which P decides: the blend, the in-game mixture or uniform (see ``choose``)."""
        threshold = self.params.evidence_threshold
        if (
            state is not None
            and state.evidence >= threshold
            and state.advantage >= self.params.model_advantage_threshold
        ):
            return ACTED_BLEND, blended
        if self.evidence >= threshold:
            return ACTED_IN_GAME, self._pending_mixture
        return ACTED_GREEDY, UNIFORM

    def _pick(self, evs: tuple[float, float, float], tiebreak: float | None) -> Move:
        margin = self.params.sample_margin
        if margin > 0 and tiebreak is not None:
            return _sample_near_best(evs, margin, tiebreak)
        return choose_ev_move(evs)

    # -- learning --------------------------------------------------------------------------------

    def push(
        self,
        played: PlayedRound,
        model_probabilities: Mapping[str, Probabilities] | None = None,
    ) -> None:
        """Learn from a played round: the user's move updates the experts' counts and weights,
        and each alias's model weight by its probability of that move.

        ``model_probabilities`` holds each alias's model P for this round (model rounds only);
        aliases not named keep their weight."""
        if played.round_no != self.rounds_played + 1:
            raise ValueError(
                f"expected round {self.rounds_played + 1} of the game, got round {played.round_no}"
            )
        params = self.params
        user = played.user_move.position
        self._ensure_prepared(played.values)
        # Every expert gives each move at least the pseudo-count's share, so no P here is 0;
        # a model's P is floored, since a graph can round a probability to 0.
        mixture_p = self._pending_mixture[user]
        log = math.log
        mixture_evidence = log(mixture_p * 3.0)
        if model_probabilities:
            eta = params.model_learning_rate
            share = params.model_share
            keep = 1.0 - share
            mixture_term = mixture_p**eta
            aliases = self._aliases
            for alias, probabilities in model_probabilities.items():
                state = aliases.get(alias)
                if state is None:
                    continue
                w = state.weight
                model_p = probabilities[user]
                if model_p < 1e-12:
                    model_p = 1e-12
                gained = log((w * model_p + (1.0 - w) * mixture_p) * 3.0)
                state.evidence += gained
                state.advantage += gained - mixture_evidence
                a = w * model_p**eta
                state.weight = keep * a / (a + (1.0 - w) * mixture_term) + share * state.prior
        self.evidence += mixture_evidence
        self._learn(user)
        self._advance(played, user, played.bot_move.position)

    def _learn(self, user: int) -> None:
        """Update uniform's weight, the frames' weights and the frames' counts."""
        params = self.params
        # Uniform against the frames' mixture: the mixture pays for every chance fit it made,
        # so a random player keeps it near 1/3.
        eta = params.uniform_learning_rate
        u = self._uniform
        a = u * self._third_powered_uniform
        b = (1.0 - u) * self._pending_frames[user] ** eta
        share = params.uniform_share
        self._uniform = (1.0 - share) * a / (a + b) + share * params.uniform_prior
        # Hedge among the frames, a share of the weight back to the equal prior; and each
        # frame's counts, decayed, of how the user's move stood to its reference.
        eta = params.learning_rate
        unknown = self._third_powered  # the likelihood term of a frame without a reference
        decay = params.decay
        counts = self._counts
        raw = []
        total = 0.0
        for ref, o, w, p in zip(
            self._pending_refs,
            self._pending_offsets,
            self._weights,
            self._pending_predictions,
            strict=True,
        ):
            if ref < 0:
                r = w * unknown
            else:
                r = w * p[user] ** eta
                if decay != 1.0:
                    counts[o] *= decay
                    counts[o + 1] *= decay
                    counts[o + 2] *= decay
                counts[o + (user - ref) % 3] += 1.0
            raw.append(r)
            total += r
        share = params.share
        scale = (1.0 - share) / total
        floor = share / _N_FRAMES
        self._weights = [r * scale + floor for r in raw]

    def _advance(self, played: PlayedRound, user: int, bot: int) -> None:
        if self._bot_last >= 0:
            self._bot_transitions[3 * self._bot_last + bot] += 1
        ranked = _ranked(played.values)
        tier = ranked.index(bot)
        if self._bot_last_tier >= 0:
            self._bot_tier_transitions[3 * self._bot_last_tier + tier] += 1
        self._bot_last_tier = tier
        self._bot_tier_counts[tier] += 1
        self._bot_recent_tiers.append(tier)
        if len(self._bot_recent_tiers) > 3:
            del self._bot_recent_tiers[0]
        self._bot_counts[bot] += 1
        self._bot_recent.append(bot)
        if len(self._bot_recent) > 3:
            del self._bot_recent[0]
        self._user_last = user
        self._bot_last = bot
        self._last_result = _OUTCOME_INDEX[played.outcome]
        self.rounds_played += 1
        self._pending_round = 0
        self._move_cache = None
        self._pending_refs = ()
        self._pending_offsets = ()
        self._pending_predictions = ()

    @classmethod
    def replay(
        cls,
        rounds: Sequence[PlayedRound],
        params: DecisionParams = DEFAULT_PARAMS,
        *,
        prior_of: Callable[[str], float] | None = None,
        model_probabilities: Sequence[Mapping[str, Probabilities] | None] = (),
    ) -> GameBelief:
        """The state after ``rounds`` (a game's rounds 1..n in order), each alias's model weight
        replayed from its probabilities in each round (``model_probabilities[i]`` for round
        i + 1; an alias starts at ``prior_of(alias)`` the first time it appears)."""
        state = cls(params)
        state.extend(rounds, prior_of=prior_of, model_probabilities=model_probabilities)
        return state

    def extend(
        self,
        rounds: Sequence[PlayedRound],
        *,
        prior_of: Callable[[str], float] | None = None,
        model_probabilities: Sequence[Mapping[str, Probabilities] | None] = (),
    ) -> None:
        """Push the game's next rounds (``rounds[0]`` is round ``rounds_played + 1``), as
        ``replay`` does from the start: ``model_probabilities[i]`` goes with ``rounds[i]``."""
        params = self.params
        for i, played in enumerate(rounds):
            probs = model_probabilities[i] if i < len(model_probabilities) else None
            if probs:
                for alias in probs:
                    if alias not in self._aliases:
                        prior = prior_of(alias) if prior_of else params.model_prior_floor
                        self.register_alias(alias, prior)
            self.push(played, dict(probs) if probs else None)


@lru_cache(maxsize=16)
def _digest_of(params: DecisionParams) -> str:
    return params.digest()


def _ranked(values: RoundValues) -> tuple[int, int, int]:
    """Move indexes from the highest to the lowest value."""
    r, p, s = values.rock, values.paper, values.scissors
    if r > p:
        if p > s:
            return (0, 1, 2)
        return (0, 2, 1) if r > s else (2, 0, 1)
    if r > s:
        return (1, 0, 2)
    return (1, 2, 0) if p > s else (2, 1, 0)


def _sample_near_best(evs: tuple[float, float, float], margin: float, draw: float) -> Move:
    best = max(evs)
    near = [m for m, ev in zip(MOVES, evs, strict=True) if ev >= best - margin]
    return near[min(len(near) - 1, int(draw * len(near)))]


def sampling_draw(game_id: str, round_no: int) -> float:
    """A number in [0, 1) fixed by the game and round (for the optional EV-margin sampling)."""
    digest = hashlib.sha256(f"{game_id}:{round_no}:decision".encode()).digest()
    return int.from_bytes(digest[:6], "big") / 2**48


# -- the baselines of strength evaluation (SPEC §4.1) --------------------------------------------


def value_greedy_move(values: RoundValues, bot_tenths: int, user_tenths: int) -> Move:
    """EV under uniform P: in mid-game the highest-valued move."""
    return choose_ev_move(apply_ev_terms(ev_terms(values, bot_tenths, user_tenths), UNIFORM))


def frequency_probabilities(user_moves: Sequence[Move]) -> Probabilities:
    """This game's Laplace-smoothed user move frequencies."""
    counts = [1, 1, 1]
    for m in user_moves:
        counts[m.position] += 1
    total = sum(counts)
    return (counts[0] / total, counts[1] / total, counts[2] / total)
