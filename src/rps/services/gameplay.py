"""Start a game, play a round, read a game: the gameplay use cases behind the API and the CLI."""

from __future__ import annotations

import hashlib
import logging
import random
import time
import unicodedata
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from rps.domain.decision import Belief, GameBelief
from rps.domain.errors import (
    GameAbandoned,
    GameFinished,
    GameNotFound,
    InvalidInput,
    RoundConflict,
    echoed,
)
from rps.domain.game import Game
from rps.domain.history import PlayedRound
from rps.domain.move import Move, Outcome, Winner
from rps.domain.openings import draw_opening
from rps.domain.personas import PersonaName
from rps.domain.policy import Alias, Family, Policy, ProbabilitySource, expected_values
from rps.domain.round_values import RoundValues, round_values
from rps.features.online import OnlineFeatureState, online_features
from rps.observability.metrics import Metrics
from rps.persistence.game_repository import GameRepository
from rps.persistence.records import FinishedReason, GameRecord, GameSource, RoundRecord
from rps.persistence.tables import utcnow
from rps.services.abandonment import abandonment_cutoff
from rps.services.bot import Decision, bot_policy, decide, round_record, score_aliases
from rps.serving.assignment import assign_alias
from rps.serving.capture import Capture, NullCapture
from rps.serving.policy import DEFAULT_DECISION, DecisionConfig
from rps.serving.predictor import Predictor

log = logging.getLogger(__name__)

MAX_NAME_LENGTH = 32
DIFFICULTY_MODES = {"normal": "normal", "standard": "normal", "easy": "normal"}
_CAS_ATTEMPTS = 8
_STATES_KEPT = 20_000  # running states of games being played, oldest dropped first


@dataclass(slots=True)
class GameMemory:
    """What a game being played keeps between rounds: its feature state and its decision-layer
    state, both holding exactly the rounds stored so far."""

    features: OnlineFeatureState
    belief: GameBelief

    @property
    def rounds_played(self) -> int:
        return self.features.rounds_played


@dataclass(frozen=True, slots=True)
class StartGame:
    player_name: str | None = None
    policy: str = Policy.BRIAN.value
    difficulty_mode: str = "normal"
    session_id: str | None = None
    is_test: bool = False
    source: GameSource = GameSource.HUMAN


@dataclass(frozen=True, slots=True)
class RoundResult:
    """One played (or replayed) round with everything a response needs."""

    game: GameRecord
    played: PlayedRound
    decision: Decision
    draws: int
    winner: Winner | None
    replayed: bool = False

    @property
    def finished(self) -> bool:
        return self.winner is not None

    @property
    def next_values(self) -> RoundValues | None:
        return None if self.finished else round_values(self.game.id, self.played.round_no + 1)


@dataclass(frozen=True, slots=True)
class GameView:
    game: GameRecord
    rounds: list[RoundRecord] = field(default_factory=list)


def normalise_player_name(name: str | None, session_id: str) -> str:
    """Trimmed, cut to 32 characters, no control characters; empty or "player" →
    ``Player-NNN``.

    A longer name is cut, not refused (SPEC §9): the original's clients send whatever was typed.
    """
    text = (name or "").strip()
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in text):
        raise InvalidInput("player_name must not contain control characters")
    text = text[:MAX_NAME_LENGTH].rstrip()
    if not text or text.lower() == "player":
        number = int(hashlib.sha256(session_id.encode()).hexdigest(), 16) % 1000
        return f"Player-{number:03d}"
    return text


def parse_policy(text: str) -> Policy | PersonaName:
    value = text.strip().lower()
    try:
        return Policy(value)
    except ValueError:
        pass
    try:
        return PersonaName(value)
    except ValueError:
        raise InvalidInput(
            f"unknown policy {text!r}: expected brian, forrest or logan "
            f"(or a persona: {', '.join(p.value for p in PersonaName)})"
        ) from None


def parse_difficulty(text: str) -> str:
    try:
        return DIFFICULTY_MODES[text.strip().lower()]
    except KeyError:
        raise InvalidInput(
            f"unknown difficulty_mode {text!r}: expected normal, standard or easy"
        ) from None


class FallbackWarnings:
    """Logs each family's fallback loudly but at most once a minute per reason, with a count."""

    def __init__(self, interval_s: float = 60.0) -> None:
        self._interval_s = interval_s
        self._last: dict[tuple[str, str], tuple[float, int]] = {}

    def warn(self, family: str, reason: str) -> None:
        now = time.monotonic()
        last_at, suppressed = self._last.get((family, reason), (-self._interval_s, 0))
        if now - last_at < self._interval_s:
            self._last[(family, reason)] = (last_at, suppressed + 1)
            return
        log.warning(
            "%s: no model answered (%s); the bot plays its fallback "
            "(%d more such rounds since the last warning)",
            family,
            reason,
            suppressed,
        )
        self._last[(family, reason)] = (now, 0)


class GameplayService:
    """Games and rounds. ``rng`` drives personas; openings use an unpredictable source.

    ``abandoned_after``: a move on an open game quiet for longer than this closes the game as
    abandoned and is refused (SPEC §1.2); None never closes one.
    """

    def __init__(
        self,
        repository: GameRepository,
        predictor: Predictor,
        metrics: Metrics,
        *,
        ab_split: Mapping[Family, float] | None = None,
        ab_enabled: bool = True,
        rng: random.Random | None = None,
        opening_rng: random.Random | None = None,
        clock: Callable[[], datetime] = utcnow,
        capture: Capture | None = None,
        decision: DecisionConfig = DEFAULT_DECISION,
        abandoned_after: timedelta | None = None,
    ) -> None:
        self._repo = repository
        self._abandoned_after = abandoned_after
        self._predictor = predictor
        self._metrics = metrics
        self._ab_split = dict(ab_split or {})
        self._ab_enabled = ab_enabled
        self._rng = rng or random.Random()
        # Openings must not be derivable from public data: by default the OS's entropy.
        self._opening_rng = opening_rng or random.SystemRandom()
        self._clock = clock
        self._fallback_warnings = FallbackWarnings()
        self._capture = capture or NullCapture()
        self._decision = decision
        self._scoring_version = decision.params.digest()
        # Each game being played keeps its running feature and decision-layer state.
        self._memories: dict[str, GameMemory] = {}

    @property
    def predictor(self) -> Predictor:
        return self._predictor

    @property
    def decision(self) -> DecisionConfig:
        return self._decision

    @property
    def scoring_version(self) -> str:
        """The decision layer's parameter digest, stored with every alias prediction."""
        return self._scoring_version

    # -- start ---------------------------------------------------------------------------------

    def new_game_record(self, command: StartGame, game_id: str | None = None) -> GameRecord:
        """Validate a start request and build the game's record (not yet stored)."""
        policy = parse_policy(command.policy)
        difficulty = parse_difficulty(command.difficulty_mode)
        session_id = (command.session_id or "").strip() or uuid.uuid4().hex
        if len(session_id) > 64:
            raise InvalidInput("session_id is longer than 64 characters")
        player_name = normalise_player_name(command.player_name, session_id)
        game_id = game_id or str(uuid.uuid4())
        opening = draw_opening(self._opening_rng)
        alias: Alias | None = None
        model_type: str | None = None
        version: str | None = None
        if isinstance(policy, Policy):
            family = policy.family
            model_type = family.value
            alias = assign_alias(game_id, self._ab_split.get(family, 0.5), self._ab_enabled)
            version = self._predictor.version_of(family, alias)
        return GameRecord(
            id=game_id,
            session_id=session_id,
            player_name=player_name,
            policy=policy.value,
            model_type=model_type,
            bot_model_alias=alias.value if alias else None,
            model_version=version,
            difficulty_mode=difficulty,
            is_test=command.is_test,
            opening_name=opening.name.value,
            opening_seq=opening.resolve(game_id),
            source=command.source,
            created_at=self._clock(),
        )

    def start_game(self, command: StartGame) -> GameRecord:
        record = self.new_game_record(command)
        self._repo.add_game(record)
        return record

    # -- play ----------------------------------------------------------------------------------

    def play(self, game_id: str, user_move: Move, round_no: int | None = None) -> RoundResult:
        """Play the game's next round (or replay a stored one when ``round_no`` names it)."""
        if round_no is not None and round_no < 1:
            raise InvalidInput("round must be 1 or more")
        fresh = False
        for _ in range(_CAS_ATTEMPTS):
            loaded = self._repo.refresh(game_id) if fresh else self._repo.load_live(game_id)
            if loaded is None:
                raise GameNotFound(f"no game with id {echoed(game_id)}")
            record, stored = loaded
            if round_no is not None and round_no <= len(stored):
                return self._replay(record, stored, round_no, user_move)
            if record.finished_reason is FinishedReason.ABANDONED:
                raise GameAbandoned(self._abandoned_text(record))
            game = Game(game_id, [r.played for r in stored])
            if game.finished or record.winner is not None:
                raise GameFinished(
                    f"game {game_id} is finished ({_winner_text(game.winner or record.winner)}); "
                    "start a new game to play again"
                )
            if self._is_quiet(record):
                self._close_quiet(record)  # raises GameAbandoned once it is closed
                fresh = True  # not closed: a move or a close elsewhere; read again
                continue
            if round_no is not None and round_no != game.next_round_no:
                if not fresh:  # this process's copy may lag behind another's writes
                    fresh = True
                    continue
                raise RoundConflict(
                    f"round {round_no} is not the next round of game {game_id} "
                    f"(next is {game.next_round_no})"
                )
            result = self._play_next(record, game, stored, user_move)
            if result is not None:
                return result
            # Another writer stored a round first: read again and decide anew.
            fresh = True
        raise RoundConflict(f"game {game_id} is being played concurrently; retry the move")

    def _is_quiet(self, record: GameRecord) -> bool:
        if self._abandoned_after is None:
            return False
        quiet_since = record.last_round_at or record.created_at
        return quiet_since < self._clock() - self._abandoned_after

    def _close_quiet(self, record: GameRecord) -> None:
        """Close a game that looks quiet from here; the database decides (this copy of the game
        may lag behind a round another process stored). Raises GameAbandoned if it closed."""
        assert self._abandoned_after is not None
        now = self._clock()
        cutoff = abandonment_cutoff(now, self._abandoned_after)
        if not self._repo.close_abandoned(cutoff, now, game_id=record.id):
            return
        self._memories.pop(record.id, None)
        closed = self._repo.load(record.id)
        raise GameAbandoned(self._abandoned_text(closed[0] if closed else record))

    def _abandoned_text(self, record: GameRecord) -> str:
        quiet = (
            f"no move for over {self._abandoned_after.total_seconds() / 60:g} minutes"
            if self._abandoned_after is not None
            else "no move for too long"
        )
        return (
            f"game {record.id} was abandoned ({quiet}) and is closed: "
            f"{_winner_text(record.winner)} on score, {record.user_score / 10:g} to "
            f"{record.bot_score / 10:g}; start a new game to play again"
        )

    def _play_next(
        self, record: GameRecord, game: Game, stored: list[RoundRecord], user_move: Move
    ) -> RoundResult | None:
        policy = bot_policy(record.policy)
        alias = Alias(record.bot_model_alias) if record.bot_model_alias else None
        memory = self._memory_for(record, game, stored)
        decision = decide(
            game,
            policy,
            record.opening_seq,
            alias,
            self._predictor,
            self._rng,
            memory.belief,
            memory.features,
            self._decision,
        )
        played = game.play(user_move, decision.move)
        winner = game.winner
        now = self._clock()
        scored = score_aliases(decision, played, record.model_type or "", self._scoring_version)
        updated = self._repo.append_round(
            record, round_record(played, decision, now, scored), winner
        )
        if updated is None:
            self._memories.pop(record.id, None)
            return None
        self._advance_memory(record.id, memory, played, decision, winner is not None)
        if decision.source is ProbabilitySource.MODEL and record.model_type:
            self._capture.record(
                game_id=record.id,
                round_no=played.round_no,
                family=record.model_type,
                alias=decision.model_alias or "",
                version=decision.model_version,
                run_id=decision.model_run_id,
                features=decision.features,
                probabilities=decision.probabilities,
                move=decision.move,
                belief=decision.belief,
            )
        model_type = record.model_type or "persona"
        self._metrics.record_round(
            record.policy, model_type, decision.move.value, played.outcome.flipped()
        )
        if decision.source is ProbabilitySource.MODEL and decision.belief is not None:
            weight = decision.belief.model_weight
            if weight is not None and record.model_type:
                self._metrics.record_model_weight(record.model_type, weight)
        if decision.source is ProbabilitySource.FALLBACK and record.model_type:
            reason = decision.fallback_reason or "unknown"
            self._metrics.record_fallback(record.model_type, reason)
            self._fallback_warnings.warn(record.model_type, reason)
        for prediction in scored:
            self._metrics.record_alias_prediction(
                prediction.model_type, prediction.alias, prediction.correct
            )
        if winner is not None:
            self._metrics.record_game_end(record.policy, model_type, winner)
            if record.model_type and record.bot_model_alias:
                self._metrics.record_alias_game(record.model_type, record.bot_model_alias, winner)
        draws = sum(r.played.outcome is Outcome.DRAW for r in stored) + (
            played.outcome is Outcome.DRAW
        )
        return RoundResult(updated, played, decision, draws, winner)

    def _memory_for(self, record: GameRecord, game: Game, stored: list[RoundRecord]) -> GameMemory:
        """The game's running state. When this process's state is behind (another worker
        played the last rounds) the newer rounds are pushed onto it; when it has none (a
        restart, a game started elsewhere) it is rebuilt: the features from the history, the
        layer by replaying every round with each alias's stored probabilities."""
        memory = self._memories.get(record.id)
        played = len(game.rounds)
        if memory is not None and memory.rounds_played == memory.belief.rounds_played == played:
            return memory
        in_step = memory is not None and (
            memory.rounds_played == memory.belief.rounds_played <= played
        )
        if memory is None or not in_step:
            memory = GameMemory(OnlineFeatureState(), GameBelief(self._decision.params))
        known = memory.rounds_played
        newer = game.rounds[known:]
        try:
            self._push_stored(record, memory, newer, stored[known:], known)
        except ValueError:  # another request moved this state on meanwhile: start afresh
            memory = GameMemory(OnlineFeatureState(), GameBelief(self._decision.params))
            self._push_stored(record, memory, game.rounds, stored, 0)
        self._remember(record.id, memory)
        return memory

    def _push_stored(
        self,
        record: GameRecord,
        memory: GameMemory,
        newer: Sequence[PlayedRound],
        newer_stored: Sequence[RoundRecord],
        known: int,
    ) -> None:
        """Push stored rounds ``known + 1``… onto a game's state, each alias's model weight
        learning from the probabilities stored with the round."""
        if not newer:
            return
        by_round: dict[int, dict[str, tuple[float, float, float]]] = {}
        if record.model_type and any(
            r.decision_source in (ProbabilitySource.MODEL.value, ProbabilitySource.FALLBACK.value)
            for r in newer_stored
        ):
            by_round = self._repo.alias_probabilities(record.id, after=known)
        params = self._decision.params
        priors: dict[str, float] = {}
        if record.model_type:
            family = Family(record.model_type)
            for a in Alias:
                priors[a.value] = params.model_prior(self._predictor.val_log_loss(family, a))
        for played in newer:
            memory.features.push(played)
        memory.belief.extend(
            newer,
            prior_of=lambda alias: priors.get(alias, params.model_prior_floor),
            model_probabilities=[by_round.get(r.round_no) for r in newer],
        )

    def _remember(self, game_id: str, memory: GameMemory) -> None:
        if game_id not in self._memories and len(self._memories) >= _STATES_KEPT:
            self._memories.pop(next(iter(self._memories)))
        self._memories[game_id] = memory

    def _advance_memory(
        self,
        game_id: str,
        memory: GameMemory,
        played: PlayedRound,
        decision: Decision,
        finished: bool,
    ) -> None:
        """Push the round just stored onto the game's state (kept only while playing)."""
        if finished or memory.rounds_played != played.round_no - 1:
            # Finished, or moved on by a request that read this round back meanwhile.
            self._memories.pop(game_id, None)
            return
        memory.features.push(played)
        memory.belief.push(played, decision.model_probabilities() or None)
        self._remember(game_id, memory)

    def _replay(
        self, record: GameRecord, stored: list[RoundRecord], round_no: int, user_move: Move
    ) -> RoundResult:
        previous = stored[round_no - 1]
        if previous.played.user_move is not user_move:
            raise RoundConflict(
                f"round {round_no} of game {record.id} was already played with "
                f"{previous.played.user_move.value}, not {user_move.value}"
            )
        history = [r.played for r in stored[: round_no - 1]]
        played = previous.played
        decision = _stored_decision(previous, history)
        draws = sum(r.played.outcome is Outcome.DRAW for r in stored[:round_no])
        game_then = Game(record.id, [*history, played])
        return RoundResult(record, played, decision, draws, game_then.winner, replayed=True)

    # -- read ----------------------------------------------------------------------------------

    def get_game(self, game_id: str) -> GameView:
        loaded = self._repo.load(game_id)
        if loaded is None:
            raise GameNotFound(f"no game with id {echoed(game_id)}")
        return GameView(*loaded)

    def round_values_for(self, game_id: str) -> tuple[int, RoundValues]:
        """The next round's number and values of a stored game."""
        view = self.get_game(game_id)
        next_round = view.game.rounds_played + 1
        return next_round, round_values(game_id, next_round)


def _winner_text(winner: Winner | None) -> str:
    if winner is None:
        return "in progress"
    return {Winner.USER: "you won", Winner.BOT: "the bot won", Winner.TIE: "a tie"}[winner]


def _stored_decision(stored: RoundRecord, history: list[PlayedRound]) -> Decision:
    """Rebuild the decision of a stored round for a retried request's answer."""
    source = ProbabilitySource(stored.decision_source)
    played = stored.played
    features = None
    evs = None
    if source in (ProbabilitySource.MODEL, ProbabilitySource.FALLBACK):
        features = online_features(history, played.values)
    belief = Belief.from_json(stored.belief) if stored.belief else None
    probabilities = belief.acting_probabilities if belief is not None else stored.probabilities
    if probabilities is not None:
        bot_before = history[-1].bot_score if history else 0
        user_before = history[-1].user_score if history else 0
        evs = expected_values(probabilities, played.values, bot_before, user_before)
    return Decision(
        played.bot_move,
        source,
        probabilities=stored.probabilities,
        expected_values=evs,
        features=features,
        model_alias=stored.model_alias,
        model_version=stored.model_version,
        model_run_id=stored.model_run_id,
        fallback_reason=stored.fallback_reason,
        belief=belief,
    )
