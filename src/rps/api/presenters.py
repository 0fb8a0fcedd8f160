"""Turning service results into response dictionaries (floats only from here on)."""

from __future__ import annotations

from typing import Any

from rps.domain.decision import Belief
from rps.domain.move import MOVES, Outcome
from rps.domain.round_values import RoundValues
from rps.features.names import FEATURE_COUNT
from rps.persistence.records import GameRecord, RoundRecord
from rps.services.gameplay import GameView, RoundResult


def iso(value: Any) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _triple(values: tuple[float, float, float] | None) -> dict[str, float] | None:
    if values is None:
        return None
    return {m.value: float(v) for m, v in zip(MOVES, values, strict=True)}


def _belief(belief: Belief | None) -> dict[str, Any] | None:
    """The decision layer's blend: the P the EV rule used, each expert's share, the parameters."""
    if belief is None:
        return None
    return {
        "probabilities": _triple(belief.probabilities),
        "model_weight": belief.model_weight,
        "weights": belief.weights(),
        "params": belief.params_digest,
        "acted": belief.acted,
        "acting_probabilities": _triple(belief.acting_probabilities),
    }


def points(values: RoundValues | None) -> dict[str, float] | None:
    return None if values is None else values.as_points()


def model_info(game: GameRecord, result: RoundResult) -> dict[str, Any]:
    d = result.decision
    return {
        "model_type": game.model_type,
        "model_alias": d.model_alias or game.bot_model_alias,
        "model_version": d.model_version,
        "model_run_id": d.model_run_id[:8] if d.model_run_id else None,
        "difficulty_mode": game.difficulty_mode,
        "policy": game.policy,
        "probability_source": d.source.value,
        "fallback_reason": d.fallback_reason,
    }


def _message(result: RoundResult) -> str:
    p = result.played
    if p.outcome is Outcome.DRAW:
        text = f"Round {p.round_no}: draw, both played {p.user_move.value} (+0.5 each)."
    elif p.outcome is Outcome.WIN:
        text = (
            f"Round {p.round_no}: you win, {p.user_move.value} beats {p.bot_move.value} "
            f"(+{p.user_delta / 10:g})."
        )
    else:
        text = (
            f"Round {p.round_no}: the bot wins, {p.bot_move.value} beats {p.user_move.value} "
            f"(+{p.bot_delta / 10:g})."
        )
    if result.winner is not None:
        text += {
            "user": " You won the game!",
            "bot": " The bot won the game.",
            "tie": " The game is a tie.",
        }[result.winner.value]
    return text


def play_response(result: RoundResult) -> dict[str, Any]:
    game = result.game
    p = result.played
    d = result.decision
    expected_values = _triple(d.expected_values)
    user_score = p.user_score / 10
    bot_score = p.bot_score / 10
    ab = None
    if game.model_type and game.bot_model_alias:
        ab = {
            "alias": game.bot_model_alias,
            "model_key": f"{game.model_type}@{game.bot_model_alias}",
            "is_variant": game.bot_model_alias != "Production",
        }
    return {
        "game_id": game.id,
        "round": p.round_no,
        "user_move": p.user_move.value,
        "player_move": p.user_move.value,
        "bot_move": p.bot_move.value,
        "result": p.outcome.value,
        "user_delta": p.user_delta / 10,
        "bot_delta": p.bot_delta / 10,
        "user_score": user_score,
        "bot_score": bot_score,
        "round_points": p.values.as_points(),
        "next_round_points": points(result.next_values),
        "finished": result.finished,
        "winner": result.winner.value if result.winner else None,
        "finished_reason": "completed" if result.finished else None,
        "scores": {"player": user_score, "bot": bot_score, "ties": result.draws},
        "policy": game.policy,
        "difficulty_mode": game.difficulty_mode,
        "model_info": model_info(game, result),
        "ab_assignment": ab,
        "debug": {
            "probabilities": _triple(d.probabilities),
            "expected_values": expected_values,
            "features": d.features,  # a numpy row: the response class encodes it directly
            "feature_count": FEATURE_COUNT,
            "round_no": p.round_no,
            "belief": _belief(d.belief),
            # The original's clients read these names (SPEC §9).
            "move_values": expected_values,
            "model_type": game.model_type,
            "probability_source": d.source.value,
            "selected_move": p.bot_move.value,
        },
        "message": _message(result),
    }


def start_response(game: GameRecord, values: RoundValues) -> dict[str, Any]:
    opponent = game.policy.capitalize()
    return {
        "game_id": game.id,
        "session_id": game.session_id,
        "player_name": game.player_name,
        "policy": game.policy,
        "bot_policy": game.policy,
        "difficulty_mode": game.difficulty_mode,
        "bot_model_alias": game.bot_model_alias,
        "model_type": game.model_type,
        "target_score": 10.0,
        "round_points": values.as_points(),
        "status": "active",
        "message": f"Game on, {game.player_name}: first to 10 points against {opponent}.",
    }


def game_state(view: GameView, next_values: RoundValues | None) -> dict[str, Any]:
    g = view.game
    # No session_id: whoever holds a game's id may see the game, never its player's session.
    return {
        "game_id": g.id,
        "player_name": g.player_name,
        "policy": g.policy,
        "model_type": g.model_type,
        "bot_model_alias": g.bot_model_alias,
        "model_version": g.model_version,
        "difficulty_mode": g.difficulty_mode,
        "is_test": g.is_test,
        "source": g.source.value,
        "status": "finished" if g.winner else "active",
        "user_score": g.user_score / 10,
        "bot_score": g.bot_score / 10,
        "winner": g.winner.value if g.winner else None,
        "finished_reason": g.finished_reason.value if g.finished_reason else None,
        # The opening stays secret until its three rounds have been played (SPEC §1.3).
        "opening_name": g.opening_name if g.rounds_played >= 3 else None,
        "created_at": iso(g.created_at),
        "finished_at": iso(g.finished_at),
        "next_round_points": points(next_values),
        "rounds": [stored_round(r) for r in view.rounds],
    }


def stored_round(r: RoundRecord) -> dict[str, Any]:
    return {
        "round": r.played.round_no,
        "user_move": r.played.user_move.value,
        "bot_move": r.played.bot_move.value,
        "result": r.played.outcome.value,
        "user_delta": r.played.user_delta / 10,
        "bot_delta": r.played.bot_delta / 10,
        "user_score": r.played.user_score / 10,
        "bot_score": r.played.bot_score / 10,
        "round_points": r.played.values.as_points(),
        "probability_source": r.decision_source,
        "model_alias": r.model_alias,
        "model_version": r.model_version,
        "created_at": iso(r.created_at),
    }


def recent_rounds(view: GameView) -> dict[str, Any]:
    """A game's rounds newest first (``GET /recent``)."""
    return {
        "game_id": view.game.id,
        "status": "finished" if view.game.winner else "active",
        "rounds": [stored_round(r) for r in reversed(view.rounds)],
    }
