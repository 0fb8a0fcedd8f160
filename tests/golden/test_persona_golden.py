"""Each ordered pair of personas replays its seeded game exactly as pinned in persona_moves.json."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rps.domain.personas import PersonaName
from tests.golden.regenerate_persona_moves import GOLDEN_PATH, PAIRS, play_golden_game

REGENERATE = "regenerate with: .venv/bin/python -m tests.golden.regenerate_persona_moves"


def _stored() -> dict[tuple[str, str], dict[str, Any]]:
    document = json.loads(GOLDEN_PATH.read_text(encoding="utf-8"))
    return {(g["user"], g["bot"]): g for g in document["games"]}


STORED = _stored()


def test_golden_file_holds_one_game_per_ordered_pair_of_personas():
    names = [p.value for p in PersonaName]
    assert len(names) == 8
    assert sorted(STORED) == sorted((u, b) for u in names for b in names)


@pytest.mark.parametrize(("user", "bot"), PAIRS, ids=[f"{u.value}-vs-{b.value}" for u, b in PAIRS])
def test_persona_game_replays_exactly_as_pinned(user, bot):
    stored = STORED[(user.value, bot.value)]
    assert play_golden_game(user, bot) == stored, REGENERATE


def test_golden_games_are_consistent_with_the_rules():
    for game in STORED.values():
        rounds = len(game["user_moves"])
        assert rounds == len(game["bot_moves"]) == len(game["results"])
        assert rounds <= 20
        user, bot = game["user_score"], game["bot_score"]
        assert max(user, bot) >= 10.0
        expected = "tie" if user == bot else ("user" if user > bot else "bot")
        assert game["winner"] == expected
