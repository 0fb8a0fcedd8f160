"""A whole game played in memory with the server's own decision code — for the simulator and
for `rps evaluate` — producing exactly the records a served game would have."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import replace

from rps.domain.decision import GameBelief
from rps.domain.game import Game
from rps.domain.history import PlayedRound, PlayerView
from rps.domain.move import Move
from rps.domain.personas import PersonaName
from rps.domain.policy import Alias, Policy
from rps.features.online import OnlineFeatureState
from rps.persistence.records import FinishedReason, GameRecord, RoundRecord
from rps.persistence.tables import utcnow
from rps.services.bot import Decision, decide, round_record, score_aliases
from rps.serving.policy import DEFAULT_DECISION, DecisionConfig
from rps.serving.predictor import Predictor

UserStrategy = Callable[[PlayerView], Move]


def seeded_game_id(rng: random.Random) -> str:
    """A UUID4-shaped game id drawn from ``rng``, so seeded runs store the same games."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def play_out(
    game: Game,
    user: UserStrategy,
    *,
    policy: Policy | PersonaName,
    opening: tuple[Move, ...],
    alias: Alias | None,
    predictor: Predictor,
    rng: random.Random,
    model_type: str | None,
    on_round: Callable[[PlayedRound, Decision], None] | None = None,
    decision: DecisionConfig = DEFAULT_DECISION,
) -> list[RoundRecord]:
    """Play ``game`` to its end: ``user`` picks the user's moves, the bot decides as served
    (the decision layer learning from every round), every alias of the family is scored each
    model round."""
    played: list[RoundRecord] = []
    belief = GameBelief.replay(game.rounds, decision.params)
    features = OnlineFeatureState.from_rounds(game.rounds)
    scoring_version = decision.params.digest()
    while not game.finished:
        user_move = user(game.view("user"))
        chosen = decide(game, policy, opening, alias, predictor, rng, belief, features, decision)
        round_ = game.play(user_move, chosen.move)
        if on_round is not None:
            on_round(round_, chosen)
        scored = score_aliases(chosen, round_, model_type or "", scoring_version)
        played.append(round_record(round_, chosen, utcnow(), scored))
        features.push(round_)
        belief.push(round_, chosen.model_probabilities() or None)
    return played


def finished(record: GameRecord, game: Game, played: list[RoundRecord]) -> GameRecord:
    """The game's record once its rounds are played."""
    return replace(
        record,
        user_score=game.user_score,
        bot_score=game.bot_score,
        winner=game.winner,
        finished_at=played[-1].created_at if played and game.winner else None,
        rounds_played=len(played),
        finished_reason=FinishedReason.COMPLETED if game.winner else None,
        last_round_at=played[-1].created_at if played else None,
    )
