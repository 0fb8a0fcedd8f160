"""Golden feature vectors: a few seeded persona games and their full feature rows.

``tests/golden/feature_vectors.json`` is data only. Regenerate it, after a deliberate change to the
features (which also bumps ``FEATURE_VERSION``) or to the personas, with::

    .venv/bin/python -m tests.golden.feature_vectors

The test compares against the file and never writes it.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from rps.domain.game import Game
from rps.domain.personas import PersonaName, persona_move
from rps.features import FEATURE_NAMES, FEATURE_VERSION, online_features

GOLDEN_PATH = Path(__file__).with_name("feature_vectors.json")

# (game id, user persona, bot persona, seed): deterministic and stochastic personas on both sides
GOLDEN_GAMES: tuple[tuple[str, PersonaName, PersonaName, int], ...] = (
    ("golden-1", PersonaName.ACE, PersonaName.CAL, 1),
    ("golden-2", PersonaName.DAN, PersonaName.GUS, 2),
    ("golden-3", PersonaName.HAL, PersonaName.BOB, 3),
    ("golden-4", PersonaName.GUS, PersonaName.DAN, 4),
    ("golden-5", PersonaName.EDD, PersonaName.FOX, 5),
)


def play_persona_game(
    game_id: str, user: PersonaName, bot: PersonaName, rng: random.Random
) -> Game:
    """A whole game between two personas, both drawing from ``rng``."""
    game = Game(game_id)
    while not game.finished:
        game.play(
            persona_move(user, game.view("user"), rng), persona_move(bot, game.view("bot"), rng)
        )
    return game


def golden_games() -> list[Game]:
    return [
        play_persona_game(game_id, user, bot, random.Random(seed))
        for game_id, user, bot, seed in GOLDEN_GAMES
    ]


def compute_golden() -> dict[str, Any]:
    """The golden document: the games' rounds (to tell a persona change from a feature change)
    and, per round, the row that predicts it."""
    games = []
    for (game_id, user, bot, seed), game in zip(GOLDEN_GAMES, golden_games(), strict=True):
        games.append(
            {
                "game_id": game_id,
                "user_persona": user.value,
                "bot_persona": bot.value,
                "seed": seed,
                "rounds": [
                    {
                        "step_no": r.round_no,
                        "user_move": r.user_move.value,
                        "bot_move": r.bot_move.value,
                        "result": r.outcome.value,
                        "features": online_features(game.rounds[:i], r.values).tolist(),
                    }
                    for i, r in enumerate(game.rounds)
                ],
            }
        )
    return {
        "feature_version": FEATURE_VERSION,
        "feature_names": list(FEATURE_NAMES),
        "games": games,
    }


def write_golden(path: Path = GOLDEN_PATH) -> None:
    """Write the golden document with one line per feature row, so a diff shows which rows moved."""
    document = compute_golden()
    rows: list[str] = []
    for game in document["games"]:
        for played in game["rounds"]:
            rows.append(json.dumps(played["features"]))
            played["features"] = f"@row{len(rows) - 1}@"
    text = json.dumps(document, indent=1)
    for i, row in enumerate(rows):
        text = text.replace(f'"@row{i}@"', row, 1)
    path.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    write_golden()
    print(f"wrote {GOLDEN_PATH}")
