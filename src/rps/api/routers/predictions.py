"""Stateless predictions (SPEC §9): what a bot's model expects the user to play, and the move the
bot would answer with, from a history sent in the request — no game is read or stored.

They reveal what the bot would play, so they need the admin token unless ``PUBLIC_PREDICT=true``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import numpy as np
import numpy.typing as npt
from fastapi import APIRouter, Depends, Request

from rps.api.body_limit import TOO_LARGE, TOO_LARGE_BATCH
from rps.api.deps import check_admin, container_of
from rps.api.prediction_schemas import (
    MAX_BATCH_ITEMS,
    PredictBatchRequest,
    PredictBatchResponse,
    PredictRequest,
    PredictResponse,
    PredictWithPolicyResponse,
)
from rps.api.rate_limits import TOO_MANY_REQUESTS
from rps.api.responses import FastJSONResponse
from rps.api.schemas import Detail
from rps.domain.errors import InvalidInput
from rps.domain.move import MOVES
from rps.domain.policy import Alias, Policy, choose_ev_move, expected_values
from rps.domain.round_values import RoundValues
from rps.domain.scoring import TARGET_TENTHS
from rps.features.names import BOT_PTS_TO_WIN_COL, FEATURE_COUNT, USER_PTS_TO_WIN_COL
from rps.features.stateless import stateless_features
from rps.serving.model_manager import ModelManager
from rps.serving.predictor import ModelAnswer

log = logging.getLogger(__name__)


async def require_predict_access(request: Request) -> None:
    """The admin token, unless the operator opened predictions with ``PUBLIC_PREDICT=true``."""
    if not container_of(request).settings.PUBLIC_PREDICT:
        check_admin(request)


router = APIRouter(tags=["predictions"], dependencies=[Depends(require_predict_access)])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": Detail, "description": "The body is not valid JSON"},
    401: {"model": Detail, "description": "Missing or wrong admin token (unless PUBLIC_PREDICT)"},
    403: {"model": Detail, "description": "No admin token is configured on the server"},
    422: {
        "model": Detail,
        "description": "Invalid input: the detail names the field (and the batch item) at fault",
    },
    503: {"model": Detail, "description": "The server is starting up"},
    **TOO_MANY_REQUESTS,
}

_FALLBACK_NOTE = (
    "When the family@alias has no usable model (none trained yet, a load failure), the answer "
    "is still 200 but says so: `model_info.probability_source` is `fallback`, "
    "`model_info.fallback_reason` tells why (e.g. `no_model`, `load_failed`), and the model's "
    "outputs are null — never made-up uniform probabilities. In a game the bot would then play "
    "the decision layer without a model (or, with FALLBACK=persona, its fallback persona: "
    "brian→bob, forrest→cal, logan→dan)."
)


def _features(body: PredictRequest) -> npt.NDArray[np.float64]:
    """The round's feature row; the contract's own message is the 422 when the input is bad."""
    try:
        return stateless_features(
            body.player_history,
            body.bot_history,
            body.result_history,
            body.round_values.model_dump(),
            None
            if body.history_round_values is None
            else [None if v is None else v.model_dump() for v in body.history_round_values],
            body.user_score,
            body.bot_score,
        )
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None


def _scores_before_tenths(features: npt.NDArray[np.float64]) -> tuple[int, int]:
    """(user, bot) points before the round, in tenths, as the feature row holds them.

    Read back from the row rather than replayed here, so a missing score means exactly what the
    feature contract made of it. Points-to-win is clamped at 0, so a finished game is refused.
    """
    user_to_win = round(float(features[USER_PTS_TO_WIN_COL]) * 10)
    bot_to_win = round(float(features[BOT_PTS_TO_WIN_COL]) * 10)
    for side, to_win in (("user", user_to_win), ("bot", bot_to_win)):
        if to_win <= 0:
            raise InvalidInput(
                f"the game is already over: the {side} has reached {TARGET_TENTHS / 10:g} points "
                "before this round, so there is no round left to predict"
            )
    return TARGET_TENTHS - user_to_win, TARGET_TENTHS - bot_to_win


def _triple(values: tuple[float, float, float]) -> dict[str, float]:
    return {m.value: float(v) for m, v in zip(MOVES, values, strict=True)}


def _predict(models: ModelManager, body: PredictRequest, *, with_policy: bool) -> dict[str, Any]:
    """One answer: the model's, or a fallback that says so."""
    features = _features(body)
    user_tenths, bot_tenths = _scores_before_tenths(features)
    family = Policy(body.policy).family
    alias = Alias(body.alias)
    answer = models.predict(family, alias, features)
    model_info: dict[str, Any] = {
        "model_type": family.value,
        "model_alias": alias.value,
        "model_version": None,
        "model_run_id": None,
        "probability_source": "model",
        "fallback_reason": None,
    }
    out: dict[str, Any] = {
        "prediction": None,
        "probabilities": None,
        "policy": body.policy,
        "model_info": model_info,
        "features_used": FEATURE_COUNT,
    }
    if with_policy:
        out.update(bot_move=None, expected_values=None)
    if not isinstance(answer, ModelAnswer):
        model_info.update(probability_source="fallback", fallback_reason=answer.reason)
        return out
    probs = answer.probabilities
    model_info.update(
        model_version=answer.version,
        model_run_id=answer.run_id[:8] if answer.run_id else None,
    )
    out.update(
        prediction=MOVES[int(np.argmax(probs))].value,  # ties: first in rock, paper, scissors
        probabilities=_triple(probs),
    )
    if with_policy:
        values = RoundValues.from_points(
            body.round_values.rock, body.round_values.paper, body.round_values.scissors
        )
        evs = expected_values(probs, values, bot_tenths, user_tenths)
        out.update(bot_move=choose_ev_move(evs).value, expected_values=_triple(evs))
    return out


def _warn_fallbacks(answers: list[dict[str, Any]]) -> None:
    # Degradation is loud: one warning per request and family@alias, not one per batch item.
    fallbacks = {
        (info["model_type"], info["model_alias"], info["fallback_reason"])
        for info in (a["model_info"] for a in answers)
        if info["probability_source"] == "fallback"
    }
    for family, alias, reason in sorted(fallbacks):
        log.warning("prediction for %s@%s answered without a model (%s)", family, alias, reason)


def _answer_one(request: Request, body: PredictRequest, *, with_policy: bool) -> dict[str, Any]:
    out = _predict(container_of(request).models, body, with_policy=with_policy)
    _warn_fallbacks([out])
    return out


@router.post(
    "/predict",
    response_model=PredictResponse,
    responses={**_RESPONSES, **TOO_LARGE},
    description="The chosen bot's model's probabilities for the user's next move, from a "
    "history sent in the body (no game is stored). Needs the admin token unless "
    "PUBLIC_PREDICT=true. " + _FALLBACK_NOTE,
)
async def predict(body: PredictRequest, request: Request) -> FastJSONResponse:
    return FastJSONResponse(_answer_one(request, body, with_policy=False))


@router.post(
    "/predict-with-policy",
    response_model=PredictWithPolicyResponse,
    responses={**_RESPONSES, **TOO_LARGE},
    description="As /predict, plus the model's own move: the highest expected value (SPEC §4) "
    "given its probabilities, this round's values and the scores (replayed from the history "
    "when omitted). In a game the bot plays the decision layer's blend of these probabilities "
    "with what the game itself has shown, so its move can differ. "
    + _FALLBACK_NOTE
    + " `bot_move` and `expected_values` are then null too.",
)
async def predict_with_policy(body: PredictRequest, request: Request) -> FastJSONResponse:
    return FastJSONResponse(_answer_one(request, body, with_policy=True))


def _answer_batch(models: ModelManager, items: list[PredictRequest]) -> list[dict[str, Any]]:
    results = []
    for i, item in enumerate(items):
        try:
            results.append(_predict(models, item, with_policy=False))
        except InvalidInput as exc:
            raise InvalidInput(f"items[{i}]: {exc}") from None
    _warn_fallbacks(results)
    return results


@router.post(
    "/predict/batch",
    response_model=PredictBatchResponse,
    responses={**_RESPONSES, **TOO_LARGE_BATCH},
    description=f"Up to {MAX_BATCH_ITEMS} /predict bodies at once; one result per item, in "
    "order. A bad item fails the whole batch with a 422 naming its index. " + _FALLBACK_NOTE,
)
async def predict_batch(body: PredictBatchRequest, request: Request) -> FastJSONResponse:
    models = container_of(request).models
    # A full batch is a few milliseconds of ONNX work: keep it off the event loop.
    results = await asyncio.to_thread(_answer_batch, models, body.items)
    return FastJSONResponse({"results": results})
