"""Train/serve parity (SPEC §6.6): replay served rounds through the batch feature pipeline and the
loaded model, and measure how far features and probabilities moved.

A served round (captured by :mod:`rps.serving.capture`, or a stored model round) carries what the
bot saw: its features (captures only) and probabilities. Replaying it rebuilds the features from
the game's stored history with :func:`rps.features.batch_features` — the training path — and asks
the currently loaded model of the same family@alias, when it is the version that served the round.
Any difference is a train/serve skew. :func:`replay_rounds` is pure given the predictor; the
readers below (capture files, the database) feed it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from rps.domain.decision import DEFAULT_PARAMS, Belief, DecisionParams, GameBelief, sampling_draw
from rps.domain.history import PlayedRound
from rps.domain.policy import Alias, Family, ProbabilitySource, ev_terms
from rps.features.batch import RoundTable, batch_features
from rps.features.names import FEATURE_COUNT
from rps.features.online import online_features
from rps.persistence.database import Database
from rps.persistence.records import GameRecord, RoundRecord
from rps.persistence.tables import rounds as rounds_table
from rps.serving.capture import capture_files
from rps.serving.predictor import ModelAnswer, Predictor

log = logging.getLogger(__name__)

DEFAULT_TOLERANCE = 1e-4

GameLoader = Callable[[str], tuple[GameRecord, list[RoundRecord]] | None]


@dataclass(frozen=True, eq=False)
class ServedRound:
    """One ML round as it was served.

    ``features`` is the row the model saw (captures), or None when it was not kept (stored
    rounds): the serving path's features are then recomputed from the history (online).
    """

    game_id: str
    round_no: int
    family: Family
    alias: Alias
    version: str | None
    probabilities: tuple[float, float, float]
    features: np.ndarray | None = None
    belief: Belief | None = None  # the decision layer's stored blend (None: before the layer)

    @property
    def model(self) -> str:
        return f"{self.family.value}@{self.alias.value}"


@dataclass(frozen=True)
class ParityRow:
    """The replay of one family@alias's rounds."""

    model: str
    rounds: int  # served rounds of this family@alias
    compared: int  # rounds whose features were rebuilt (their game's history was found)
    replayed: int  # rounds whose probabilities were replayed (the loaded version served them)
    version_mismatch: int  # rounds served by a version other than the loaded one (or none loaded)
    max_feature_diff: float
    max_probability_diff: float | None  # None when no round could be replayed
    worst_round: str | None  # game_id#round of the largest probability (else feature) difference
    # The decision layer replayed from the game's stored rounds (SPEC §4): rounds whose blend
    # was replayed, the largest blended-probability difference, and rounds whose replayed move
    # is not the move the bot played. Rounds stored before the layer, or with other layer
    # parameters, are not replayed.
    blends_replayed: int = 0
    max_blend_diff: float | None = None
    move_mismatches: int = 0


@dataclass(frozen=True)
class ParityReport:
    rows: tuple[ParityRow, ...]
    tolerance: float
    missing_history: int  # rounds whose game (or that round of it) is not stored

    @property
    def max_feature_diff(self) -> float:
        return max((r.max_feature_diff for r in self.rows), default=0.0)

    @property
    def max_probability_diff(self) -> float | None:
        diffs = [r.max_probability_diff for r in self.rows if r.max_probability_diff is not None]
        return max(diffs, default=None)

    @property
    def replayed(self) -> int:
        return sum(r.replayed for r in self.rows)

    @property
    def ok(self) -> bool:
        """No replayed probability differs from the served one by more than the tolerance.

        Vacuously true when nothing could be replayed: callers that need evidence (a promotion
        gate) should also require ``replayed > 0``.
        """
        worst = self.max_probability_diff
        return worst is None or worst <= self.tolerance

    @property
    def blends_replayed(self) -> int:
        return sum(r.blends_replayed for r in self.rows)

    @property
    def max_blend_diff(self) -> float | None:
        diffs = [r.max_blend_diff for r in self.rows if r.max_blend_diff is not None]
        return max(diffs, default=None)

    @property
    def move_mismatches(self) -> int:
        return sum(r.move_mismatches for r in self.rows)

    @property
    def blend_ok(self) -> bool:
        """Every replayed blend matches the stored one and chose the move the bot played."""
        worst = self.max_blend_diff
        return self.move_mismatches == 0 and (worst is None or worst <= self.tolerance)

    @property
    def features_ok(self) -> bool:
        return self.max_feature_diff <= self.tolerance


def _batch_rows(
    histories: Mapping[str, Sequence[PlayedRound]], game_ids: Iterable[str]
) -> tuple[np.ndarray, dict[str, int]]:
    """The batch feature matrix of all the games' rounds at once, and each game's first row."""
    ordered = [g for g in dict.fromkeys(game_ids) if histories.get(g)]
    offsets: dict[str, int] = {}
    at = 0
    for game_id in ordered:
        offsets[game_id] = at
        at += len(histories[game_id])
    table = RoundTable.from_games([histories[g] for g in ordered])
    return batch_features(table), offsets


def replay_rounds(
    served: Sequence[ServedRound],
    histories: Mapping[str, Sequence[PlayedRound]],
    predictor: Predictor,
    tolerance: float = DEFAULT_TOLERANCE,
    *,
    games: Mapping[str, tuple[GameRecord, list[RoundRecord]]] | None = None,
    params: DecisionParams = DEFAULT_PARAMS,
) -> ParityReport:
    """Rebuild each served round's features with the batch pipeline from its game's history
    (every stored round of the game, in order) and, where ``predictor`` holds the version that
    served it, its probabilities; report the largest absolute differences per family@alias."""
    matrix, offsets = _batch_rows(histories, (s.game_id for s in served))
    by_model: dict[str, list[ServedRound]] = {}
    for s in served:
        by_model.setdefault(s.model, []).append(s)
    rows = []
    missing = 0
    for model in sorted(by_model):
        group = by_model[model]
        compared = replayed = mismatched = 0
        max_feature = 0.0
        worst_feature: tuple[float, str] | None = None
        worst_probability: tuple[float, str] | None = None
        for s in group:
            history = histories.get(s.game_id) or ()
            if s.game_id not in offsets or not 1 <= s.round_no <= len(history):
                missing += 1
                continue
            batch_row = matrix[offsets[s.game_id] + s.round_no - 1]
            served_row = s.features
            if served_row is None:
                earlier = history[: s.round_no - 1]
                served_row = online_features(earlier, history[s.round_no - 1].values)
            served_row = np.asarray(served_row, dtype=np.float64)
            if served_row.shape != (FEATURE_COUNT,):
                feature_diff = float("inf")
            else:
                feature_diff = float(np.max(np.abs(served_row - batch_row)))
            compared += 1
            max_feature = max(max_feature, feature_diff)
            key = f"{s.game_id}#{s.round_no}"
            if feature_diff > 0 and (worst_feature is None or feature_diff > worst_feature[0]):
                worst_feature = (feature_diff, key)
            loaded = predictor.version_of(s.family, s.alias)
            if loaded is None or loaded != s.version:
                mismatched += 1
                continue
            answer = predictor.predict(s.family, s.alias, batch_row)
            if not isinstance(answer, ModelAnswer) or answer.version != s.version:
                mismatched += 1
                continue
            diff = float(np.max(np.abs(np.subtract(answer.probabilities, s.probabilities))))
            replayed += 1
            if worst_probability is None or diff > worst_probability[0]:
                worst_probability = (diff, key)
        blends = 0
        worst_blend: float | None = None
        mismatches = 0
        for s in group:
            replay = replay_blend(s, games or {}, params)
            if replay is None:
                continue
            blends += 1
            worst_blend = replay[0] if worst_blend is None else max(worst_blend, replay[0])
            mismatches += not replay[1]
        rows.append(
            ParityRow(
                model=model,
                rounds=len(group),
                compared=compared,
                replayed=replayed,
                version_mismatch=mismatched,
                max_feature_diff=max_feature,
                max_probability_diff=worst_probability[0] if worst_probability else None,
                worst_round=_worst_key(worst_probability, worst_feature),
                blends_replayed=blends,
                max_blend_diff=worst_blend,
                move_mismatches=mismatches,
            )
        )
    return ParityReport(tuple(rows), tolerance, missing)


def replay_blend(
    served: ServedRound,
    games: Mapping[str, tuple[GameRecord, list[RoundRecord]]],
    params: DecisionParams,
) -> tuple[float, bool] | None:
    """Replay the decision layer up to ``served``'s round from its game's stored rounds (each
    model round's stored probabilities, the model's prior as stored at its first model round)
    and compare: (largest blended-probability difference, whether the replayed move is the
    move the bot played). None when the round has no stored belief, was decided by other layer
    parameters, or its game is not stored."""
    belief = served.belief
    loaded = games.get(served.game_id)
    if belief is None or loaded is None or belief.params_digest != params.digest():
        return None
    _, rounds = loaded
    if not 1 <= served.round_no <= len(rounds):
        return None
    earlier = rounds[: served.round_no - 1]
    alias = served.alias.value
    prior: float | None = None
    per_round: list[dict[str, tuple[float, float, float]] | None] = []
    for r in earlier:
        if r.decision_source == ProbabilitySource.MODEL.value and r.probabilities is not None:
            if prior is None and r.belief:
                prior = Belief.from_json(r.belief).model_weight
            per_round.append({alias: r.probabilities})
        else:
            per_round.append(None)
    if prior is None:  # this is the game's first model round: its own belief holds the prior
        prior = belief.model_weight
    if prior is None:
        return None
    state = GameBelief.replay(
        [r.played for r in earlier],
        params,
        prior_of=lambda _alias: prior,
        model_probabilities=per_round,
    )
    # Serving registers the alias at its prior before it chooses, so in the game's first model
    # round (no earlier round registered it) the blend starts from the prior, not the floor.
    state.register_alias(alias, prior)
    played = rounds[served.round_no - 1].played
    state.prepare(played.values)
    bot = earlier[-1].played.bot_score if earlier else 0
    user = earlier[-1].played.user_score if earlier else 0
    terms = ev_terms(played.values, bot, user)
    tiebreak = sampling_draw(served.game_id, served.round_no) if params.sample_margin > 0 else None
    choice = state.choose(terms, alias, served.probabilities, tiebreak=tiebreak)
    diff = max(
        abs(a - b) for a, b in zip(choice.belief.probabilities, belief.probabilities, strict=True)
    )
    return diff, choice.move is played.bot_move


def _worst_key(
    probability: tuple[float, str] | None, feature: tuple[float, str] | None
) -> str | None:
    # A probability difference matters most; a feature one explains where to look otherwise.
    if probability is not None and probability[0] > 0:
        return probability[1]
    return feature[1] if feature is not None else None


# -- readers --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaptureRead:
    rounds: list[ServedRound]
    files: int
    bad_lines: int


def _served_from_line(data: dict[str, object]) -> ServedRound:
    probabilities = data["probabilities"]
    features = data.get("features")
    stored_belief = data.get("belief")
    if not isinstance(probabilities, list) or len(probabilities) != 3:
        raise ValueError("probabilities must be a list of three numbers")
    return ServedRound(
        game_id=str(data["game_id"]),
        round_no=int(str(data["round"])),
        family=Family(str(data["family"])),
        alias=Alias(str(data["alias"])),
        version=None if data.get("model_version") is None else str(data["model_version"]),
        probabilities=(float(probabilities[0]), float(probabilities[1]), float(probabilities[2])),
        features=None if features is None else np.asarray(features, dtype=np.float64),
        belief=None if stored_belief is None else _captured_belief(stored_belief),
    )


def _captured_belief(data: object) -> Belief:
    """The capture's belief object (``{"probabilities", "weights", "params"}``)."""
    if not isinstance(data, dict):
        raise ValueError("belief must be an object")
    text = json.dumps({"p": data["probabilities"], "w": data["weights"], "params": data["params"]})
    return Belief.from_json(text)


def read_captures(directory: Path, limit: int | None = None) -> CaptureRead:
    """The captured rounds in ``directory`` (oldest first; the newest ``limit`` when given).
    Lines that do not parse are counted and skipped."""
    files = capture_files(directory)
    served: list[ServedRound] = []
    bad = 0
    for path in files:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                try:
                    served.append(_served_from_line(json.loads(line)))
                except (ValueError, KeyError, TypeError):
                    bad += 1
    if limit is not None:
        served = served[-limit:] if limit > 0 else []
    return CaptureRead(served, len(files), bad)


def recent_model_round_keys(database: Database, limit: int) -> list[tuple[str, int]]:
    """(game id, round) of the newest ``limit`` stored model rounds, oldest first."""
    query = (
        sa.select(rounds_table.c.game_id, rounds_table.c.step_no)
        .where(rounds_table.c.decision_source == ProbabilitySource.MODEL.value)
        .order_by(rounds_table.c.created_at.desc(), rounds_table.c.step_no.desc())
        .limit(limit)
    )
    with database.read() as conn:
        keys = [(str(r.game_id), int(r.step_no)) for r in conn.execute(query)]
    return keys[::-1]


def load_histories(
    game_ids: Iterable[str], load_game: GameLoader
) -> tuple[dict[str, list[PlayedRound]], dict[str, tuple[GameRecord, list[RoundRecord]]]]:
    """Each known game's played rounds (and its records), read with ``load_game``."""
    histories: dict[str, list[PlayedRound]] = {}
    games: dict[str, tuple[GameRecord, list[RoundRecord]]] = {}
    for game_id in dict.fromkeys(game_ids):
        loaded = load_game(game_id)
        if loaded is None:
            continue
        games[game_id] = loaded
        histories[game_id] = [r.played for r in loaded[1]]
    return histories, games


def stored_served_rounds(
    keys: Sequence[tuple[str, int]], games: Mapping[str, tuple[GameRecord, list[RoundRecord]]]
) -> list[ServedRound]:
    """The stored model rounds named by ``keys`` with their stored probabilities and version."""
    served = []
    for game_id, round_no in keys:
        loaded = games.get(game_id)
        if loaded is None or round_no > len(loaded[1]):
            continue
        record, stored = loaded
        round_record = stored[round_no - 1]
        if (
            round_record.probabilities is None
            or not record.model_type
            or not round_record.model_alias
        ):
            continue
        served.append(
            ServedRound(
                game_id=game_id,
                round_no=round_no,
                family=Family(record.model_type),
                alias=Alias(round_record.model_alias),
                version=round_record.model_version,
                probabilities=round_record.probabilities,
                belief=Belief.from_json(round_record.belief) if round_record.belief else None,
            )
        )
    return served
