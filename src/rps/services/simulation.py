"""Gym strategies playing the user side against the bots: in-process (fast) or over HTTP.

Simulated games are stored like any other game, so they feed training exactly as a person's games
would (downsampled there, SPEC §5): a persona's games as ``source=persona`` under its display name,
any other strategy's as ``source=simulated`` under ``sim-<strategy>-<n>`` (names the leaderboards
filter out).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import httpx

from rps.domain.game import Game
from rps.domain.gym import Strategy
from rps.domain.move import Move, Winner
from rps.domain.personas import PersonaName
from rps.domain.policy import Alias
from rps.persistence.game_repository import GameRepository
from rps.persistence.records import GameRecord, GameSource, RoundRecord
from rps.services.bot import bot_policy
from rps.services.gameplay import GameplayService, StartGame, parse_policy
from rps.services.playout import finished, play_out, seeded_game_id

_WRITE_BATCH_GAMES = 50


@dataclass
class PairTally:
    games: int = 0
    rounds: int = 0
    bot_wins: int = 0
    user_wins: int = 0
    ties: int = 0

    @property
    def bot_win_rate(self) -> float:
        return self.bot_wins / self.games if self.games else 0.0


@dataclass
class SimulationSummary:
    """Games, rounds and results per (persona, policy) pair."""

    pairs: dict[tuple[str, str], PairTally] = field(default_factory=dict)

    def add(self, persona: str, policy: str, rounds: int, winner: Winner | None) -> None:
        tally = self.pairs.setdefault((persona, policy), PairTally())
        tally.games += 1
        tally.rounds += rounds
        if winner is Winner.BOT:
            tally.bot_wins += 1
        elif winner is Winner.USER:
            tally.user_wins += 1
        elif winner is Winner.TIE:
            tally.ties += 1

    @property
    def games(self) -> int:
        return sum(t.games for t in self.pairs.values())

    @property
    def rounds(self) -> int:
        return sum(t.rounds for t in self.pairs.values())


def schedule(
    users: Sequence[Strategy], policies: Sequence[str], games: int
) -> list[tuple[Strategy, str]]:
    """``games`` pairings, round-robin over every user × policy combination."""
    pairs = list(itertools.product(users, policies))
    return list(itertools.islice(itertools.cycle(pairs), games))


def user_identity(strategy: Strategy, number: int) -> tuple[str, GameSource]:
    """The stored player name and source of a simulated game: a persona under its display name
    (``persona``), any other strategy as ``sim-<strategy>-<n>`` (``simulated``)."""
    if strategy.is_persona:
        return PersonaName(strategy.name).display_name, GameSource.PERSONA
    return f"sim-{strategy.name}-{number}", GameSource.SIMULATED


class InProcessSimulator:
    """Plays whole games in memory with the server's own decision code, then stores each game
    (game row and rounds) in one transaction per batch of games."""

    def __init__(
        self, gameplay: GameplayService, repository: GameRepository, rng: random.Random
    ) -> None:
        self._gameplay = gameplay
        self._repo = repository
        self._rng = rng

    def play_one(
        self, strategy: Strategy, policy: str, is_test: bool, number: int = 0
    ) -> tuple[GameRecord, list[RoundRecord]]:
        name, source = user_identity(strategy, number)
        command = StartGame(player_name=name, policy=policy, is_test=is_test, source=source)
        record = self._gameplay.new_game_record(command, game_id=seeded_game_id(self._rng))
        game = Game(record.id)
        player = strategy.player(random.Random(self._rng.getrandbits(64)))
        played = play_out(
            game,
            player,
            policy=bot_policy(record.policy),
            opening=record.opening_seq,
            alias=Alias(record.bot_model_alias) if record.bot_model_alias else None,
            predictor=self._gameplay.predictor,
            rng=self._rng,
            model_type=record.model_type,
            decision=self._gameplay.decision,
        )
        return finished(record, game, played), played

    def run(
        self,
        plan: Iterable[tuple[Strategy, str]],
        *,
        is_test: bool = False,
        on_game: Callable[[], None] | None = None,
    ) -> SimulationSummary:
        summary = SimulationSummary()
        pending: list[tuple[GameRecord, list[RoundRecord]]] = []
        for number, (strategy, policy) in enumerate(plan):
            record, played = self.play_one(strategy, policy, is_test, number)
            summary.add(strategy.name, policy, len(played), record.winner)
            pending.append((record, played))
            if len(pending) >= _WRITE_BATCH_GAMES:
                self._repo.add_played_games(pending)
                pending = []
            if on_game:
                on_game()
        if pending:
            self._repo.add_played_games(pending)
        return summary


class SimulationError(RuntimeError):
    pass


class HttpSimulator:
    """Plays gym strategies against a running server through its API (``rps simulate --via``,
    the scheduler's gameplay; non-human sources need the admin token).

    Every move names its round, so a retried request can never play a round twice.
    """

    def __init__(self, client: httpx.Client, admin_token: str | None, rng: random.Random) -> None:
        self._client = client
        self._token = admin_token
        self._rng = rng

    def _post(self, path: str, body: dict[str, object]) -> dict[str, object]:
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        for attempt in range(3):
            try:
                response = self._client.post(path, json=body, headers=headers)
            except httpx.TransportError:
                if attempt == 2:
                    raise
                continue
            if response.status_code >= 500 and attempt < 2:
                continue
            if response.status_code != 200:
                detail = response.json().get("detail", response.text) if response.content else ""
                raise SimulationError(f"{path} answered {response.status_code}: {detail}")
            data: dict[str, object] = response.json()
            return data
        raise SimulationError(f"{path} failed after retries")

    def play_one(
        self, strategy: Strategy, policy: str, is_test: bool, number: int = 0
    ) -> tuple[int, Winner]:
        parse_policy(policy)
        name, source = user_identity(strategy, number)
        started = self._post(
            "/start_game",
            {
                "player_name": name,
                "policy": policy,
                "source": source.value,
                "mark_test_game": is_test,
            },
        )
        game = Game(str(started["game_id"]))
        player = strategy.player(random.Random(self._rng.getrandbits(64)))
        while not game.finished:
            user_move = player(game.view("user"))
            answer = self._post(
                "/play",
                {
                    "game_id": game.game_id,
                    "user_move": user_move.value,
                    "round": game.next_round_no,
                },
            )
            played = game.play(user_move, Move(str(answer["bot_move"])))
            if round(float(str(answer["user_score"])) * 10) != played.user_score:
                raise SimulationError(f"score mismatch in game {game.game_id}: {answer}")
        assert game.winner is not None
        return len(game.rounds), game.winner

    def run(
        self,
        plan: Iterable[tuple[Strategy, str]],
        *,
        is_test: bool = False,
        on_game: Callable[[], None] | None = None,
    ) -> SimulationSummary:
        summary = SimulationSummary()
        for number, (strategy, policy) in enumerate(plan):
            rounds, winner = self.play_one(strategy, policy, is_test, number)
            summary.add(strategy.name, policy, rounds, winner)
            if on_game:
                on_game()
        return summary
