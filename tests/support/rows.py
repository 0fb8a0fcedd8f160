"""Rows written straight into the tables by tests that need stored history without playing it."""

from __future__ import annotations

from typing import Any


def round_row(game_id: str, step: int, **fields: Any) -> dict[str, Any]:
    """A ``rounds`` row: the user plays rock and loses a point a round to paper (so the bot's
    score is the step number), at values 1.0 / 1.2 / 1.7; ``fields`` override or add columns."""
    return {
        "game_id": game_id,
        "step_no": step,
        "user_move": "rock",
        "bot_move": "paper",
        "result": "lose",
        "user_delta": 0.0,
        "bot_delta": 1.0,
        "user_score": 0.0,
        "bot_score": float(step),
        "rock_pts": 1.0,
        "paper_pts": 1.2,
        "scissors_pts": 1.7,
        **fields,
    }
