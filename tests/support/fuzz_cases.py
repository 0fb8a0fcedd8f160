"""Make generated bodies obey the rules that tie their fields together, which a JSON schema
cannot say, so fuzzing turns every positive case into one the API must accept: for /predict,
equal history lengths, results that match the moves, values and scores exact to one decimal,
and a history that ends before either side reaches 10 points; for a promotion report, no arm
with more wins than games. Negative cases pass untouched: they must be refused."""

from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis import GenerationMode

from rps.domain.move import Move
from rps.domain.round_values import RoundValues
from rps.domain.scoring import score_round


def triple(values: dict[str, float]) -> tuple[float, float, float]:
    return (values["rock"], values["paper"], values["scissors"])


def one_decimal(points: float, low: float, high: float) -> float:
    return min(max(round(points, 1), low), high)


def consistent_item(item: dict[str, Any]) -> dict[str, Any]:
    """A schema-valid item made to obey the rules that tie its fields together: equal history
    lengths, results that match the moves, values and scores exact to one decimal, and a history
    that ends before either side reaches 10 points."""
    item["round_values"] = {
        move: one_decimal(value, 0.1, 10.0) for move, value in item["round_values"].items()
    }
    given = item.get("history_round_values")
    histories = [item.get(key, []) for key in ("player_history", "bot_history")]
    n = min(len(histories[0]), len(histories[1]), len(item.get("result_history", [])))
    if given is not None:
        n = min(n, len(given))
    current = RoundValues.from_points(*triple(item["round_values"]))
    user = bot = 0
    rounds = 0
    for i in range(n):
        entry = None if given is None else given[i]
        values = (
            current
            if entry is None
            else RoundValues.from_points(*(one_decimal(v, 0.1, 10.0) for v in triple(entry)))
        )
        score = score_round(Move(histories[0][i]), Move(histories[1][i]), values)
        user, bot = user + score.user_delta, bot + score.bot_delta
        if max(user, bot) >= 100:
            break
        rounds = i + 1
    for key in ("player_history", "bot_history"):
        item[key] = item.get(key, [])[:rounds]
    item["result_history"] = [
        score_round(Move(u), Move(b), current).outcome.value
        for u, b in zip(item["player_history"], item["bot_history"], strict=True)
    ]
    if given is not None:
        item["history_round_values"] = [
            None
            if entry is None
            else {move: one_decimal(v, 0.1, 10.0) for move, v in entry.items()}
            for entry in given[:rounds]
        ]
    for key in ("user_score", "bot_score"):
        if item.get(key) is not None:
            item[key] = one_decimal(item[key], 0.0, 9.9) if rounds else 0.0
    return item


def consistent_report(body: dict[str, Any]) -> dict[str, Any]:
    for arm in ("production", "b"):
        wins, games = body.get(f"{arm}_wins"), body.get(f"{arm}_games")
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (wins, games))
        if numbers and wins > games:  # type: ignore[operator]
            body[f"{arm}_wins"] = games
    return body


def consistent_case(case: schemathesis.Case[Any]) -> schemathesis.Case[Any]:
    """A positive case made consistent (other cases and routes pass untouched)."""
    if case.meta is None or case.meta.generation.mode is not GenerationMode.POSITIVE:
        return case
    if not isinstance(case.body, dict):
        return case
    path = case.operation.path
    if path == "/internal/promotion/report":
        case.body = consistent_report(case.body)
    elif path.startswith("/predict"):
        items = case.body.get("items")
        if isinstance(items, list):
            case.body["items"] = [consistent_item(i) for i in items if isinstance(i, dict)]
        else:
            case.body = consistent_item(case.body)
    return case
