"""A whole game played in memory with the server's own decision code — for the simulator and
for `rps evaluate` — producing exactly the records a served game would have."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import replace

from rps.domain.game import Game
from rps.domain.history import PlayedRound, PlayerView
from rps.domain.move import Move
from rps.domain.personas import PersonaName
from rps.domain.policy import Alias, Policy
from rps.persistence.records import GameRecord, RoundRecord
from rps.persistence.tables import utcnow
from rps.services.bot import Decision, decide, round_record, score_aliases
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
) -> list[RoundRecord]:
    """Play ``game`` to its end: ``user`` picks the user's moves, the bot decides as served,
    every alias of the family is scored each model round."""
    played: list[RoundRecord] = []
    while not game.finished:
        user_move = user(game.view("user"))
        decision = decide(game, policy, opening, alias, predictor, rng)
        bot_before, user_before = game.bot_score, game.user_score
        round_ = game.play(user_move, decision.move)
        if on_round is not None:
            on_round(round_, decision)
        scored = score_aliases(decision, round_, model_type or "", bot_before, user_before)
        played.append(round_record(round_, decision, utcnow(), scored))
    return played


def finished(record: GameRecord, game: Game, played: list[RoundRecord]) -> GameRecord:
    """The game's record once its rounds are played."""
    return replace(
        record,
        user_score=game.user_score,
        bot_score=game.bot_score,
        winner=game.winner,
        finished_at=played[-1].created_at if played else None,
        rounds_played=len(played),
    )
