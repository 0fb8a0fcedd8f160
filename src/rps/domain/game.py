"""An in-memory game: the rules applied round by round (used by services and the simulator)."""

from __future__ import annotations

from dataclasses import dataclass, field

from rps.domain.errors import GameFinished
from rps.domain.history import PlayedRound, PlayerView, Side
from rps.domain.move import Move, Winner
from rps.domain.round_values import RoundValues, round_values
from rps.domain.scoring import score_round, winner_of


@dataclass
class Game:
    """A game's rounds and running score; ``play`` applies one round of the rules."""

    game_id: str
    rounds: list[PlayedRound] = field(default_factory=list)

    @property
    def user_score(self) -> int:
        return self.rounds[-1].user_score if self.rounds else 0

    @property
    def bot_score(self) -> int:
        return self.rounds[-1].bot_score if self.rounds else 0

    @property
    def winner(self) -> Winner | None:
        return winner_of(self.user_score, self.bot_score)

    @property
    def finished(self) -> bool:
        return self.winner is not None

    @property
    def next_round_no(self) -> int:
        return len(self.rounds) + 1

    def next_values(self) -> RoundValues:
        return round_values(self.game_id, self.next_round_no)

    def view(self, side: Side) -> PlayerView:
        """What ``side`` sees before the next round."""
        return PlayerView.of(side, self.rounds, self.next_values())

    def play(self, user_move: Move, bot_move: Move) -> PlayedRound:
        """Apply the next round; raises GameFinished once a winner exists."""
        if self.finished:
            raise GameFinished(f"game {self.game_id} is finished")
        values = self.next_values()
        score = score_round(user_move, bot_move, values)
        played = PlayedRound(
            round_no=self.next_round_no,
            user_move=user_move,
            bot_move=bot_move,
            outcome=score.outcome,
            values=values,
            user_delta=score.user_delta,
            bot_delta=score.bot_delta,
            user_score=self.user_score + score.user_delta,
            bot_score=self.bot_score + score.bot_delta,
        )
        self.rounds.append(played)
        return played
