"""Golden persona games: every ordered pair of personas plays one seeded game.

``tests/golden/persona_moves.json`` is data only. For each (user persona, bot persona) the game id
is ``golden-{user}-{bot}`` and one ``random.Random(f"{user}-{bot}")`` serves both sides, the user
side drawing first each round. Regenerate the file, after a deliberate change to the personas or the
rules, with::

    .venv/bin/python -m tests.golden.regenerate_persona_moves

The test replays the games and compares; it never writes the file.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from rps.domain.game import Game
from rps.domain.personas import PersonaName, persona_move
from rps.domain.scoring import MAX_ROUNDS

GOLDEN_PATH = Path(__file__).with_name("persona_moves.json")
PAIRS: tuple[tuple[PersonaName, PersonaName], ...] = tuple(
    (user, bot) for user in PersonaName for bot in PersonaName
)


def play_golden_game(user: PersonaName, bot: PersonaName) -> dict[str, Any]:
    """Play the golden game of ``user`` against ``bot`` and describe it as stored in the file."""
    game = Game(f"golden-{user.value}-{bot.value}")
    rng = random.Random(f"{user.value}-{bot.value}")
    while not game.finished:
        if len(game.rounds) >= MAX_ROUNDS:
            raise AssertionError(f"{game.game_id} did not finish within {MAX_ROUNDS} rounds")
        user_move = persona_move(user, game.view("user"), rng)
        bot_move = persona_move(bot, game.view("bot"), rng)
        game.play(user_move, bot_move)
    assert game.winner is not None
    return {
        "user": user.value,
        "bot": bot.value,
        "game_id": game.game_id,
        "user_moves": [r.user_move.value for r in game.rounds],
        "bot_moves": [r.bot_move.value for r in game.rounds],
        "results": [r.outcome.value for r in game.rounds],
        "user_score": game.user_score / 10,
        "bot_score": game.bot_score / 10,
        "winner": game.winner.value,
    }


def compute_golden() -> dict[str, Any]:
    return {
        "description": (
            "One game per ordered pair of personas: game id golden-{user}-{bot}, one "
            "random.Random('{user}-{bot}') shared by both sides, user side drawn first. "
            "Regenerate with: .venv/bin/python -m tests.golden.regenerate_persona_moves"
        ),
        "games": [play_golden_game(user, bot) for user, bot in PAIRS],
    }


def render(document: dict[str, Any]) -> str:
    """JSON with one game per line, so a diff shows which pairs changed."""
    games = ",\n  ".join(json.dumps(game) for game in document["games"])
    description = json.dumps(document["description"])
    return f'{{\n "description": {description},\n "games": [\n  {games}\n ]\n}}\n'


def main() -> None:
    GOLDEN_PATH.write_text(render(compute_golden()), encoding="utf-8")
    print(f"wrote {GOLDEN_PATH} ({len(PAIRS)} games)")


if __name__ == "__main__":
    main()
