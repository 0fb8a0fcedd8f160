"""The training dataset (SPEC §5 "Dataset"): which games are kept, their rounds and features.

Games are kept whole and in chronological order, so every split (hold-out, production, CV folds)
is a split of game indexes and a game's rows can never land on both sides of one. Features come
from the batch path only (:func:`rps.features.batch_features`), the same definition serving uses.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from rps.domain.game import Game
from rps.features import (
    FEATURE_VERSION,
    MIN_LABEL_STEP,
    RoundTable,
    batch_features,
    labelled_mask,
    labels,
)
from rps.persistence.database import Database
from rps.persistence.records import GameSource
from rps.persistence.training_queries import TrainingRows, fetch_training_rounds

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Float32Array = npt.NDArray[np.float32]

# Timestamps given to in-memory games that come without any (one second apart, in order).
_SYNTHETIC_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, eq=False)
class Dataset:
    """The kept games, oldest first, with the features and labels of their labelled rounds.

    - ``table``: every round of the kept games (openings included: they are history);
      ``table.game_index`` is the game's position in ``game_ids``.
    - ``game_ids``, ``game_sources``, ``game_created_at``: per kept game, oldest first.
    - ``X`` float32 (n, 50), ``y`` int64 (n,): features and label (the user's move, 0 rock,
      1 paper, 2 scissors) of each labelled round (``step_no >= min_label_step``), in table order.
    - ``row_game`` int64 (n,): the game index of each labelled row; ``row_index``: its row in
      ``table``.
    - ``fingerprint``: sha256 of the feature version, ``min_label_step`` and each kept game's id
      and round count, in order — the same data gives the same fingerprint.
    - ``stats``: counts for logging (see :func:`build_dataset`).
    """

    table: RoundTable
    game_ids: tuple[str, ...]
    game_sources: tuple[GameSource, ...]
    game_created_at: tuple[datetime, ...]
    X: Float32Array
    y: IntArray
    row_game: IntArray
    row_index: IntArray
    min_label_step: int
    fingerprint: str
    stats: dict[str, int]

    def __len__(self) -> int:
        return len(self.y)

    @property
    def n_games(self) -> int:
        return len(self.game_ids)

    def rows_for_games(self, game_indexes: npt.ArrayLike) -> BoolArray:
        """Mask over the labelled rows: True for the rows of the given games."""
        mask: BoolArray = np.isin(self.row_game, np.asarray(game_indexes, dtype=np.int64))
        return mask

    def rounds_per_game(self) -> IntArray:
        """Rounds (labelled or not) of each kept game, by game index."""
        counts: IntArray = np.bincount(self.table.game_index, minlength=self.n_games).astype(
            np.int64
        )
        return counts

    def labelled_rows_per_game(self) -> IntArray:
        """Labelled rows (training examples) of each kept game, by game index."""
        counts: IntArray = np.bincount(self.row_game, minlength=self.n_games).astype(np.int64)
        return counts


def _persona_kept(is_persona: BoolArray, stride: int) -> BoolArray:
    """One scripted game in ``stride``, counting back from the newest, which is always kept."""
    positions = np.flatnonzero(is_persona)
    from_newest = len(positions) - 1 - np.arange(len(positions))
    kept = np.zeros(len(is_persona), dtype=bool)
    kept[positions[from_newest % stride == 0]] = True
    return kept


def _newest_within(labelled_per_game: IntArray, max_rows: int) -> BoolArray:
    """The newest games, taken whole and without gaps, whose labelled rows add up to at most
    ``max_rows`` (the first game that does not fit stops the count)."""
    from_newest = np.cumsum(labelled_per_game[::-1])[::-1]  # rows of this game and all newer
    kept: BoolArray = from_newest <= max_rows
    return kept


def _fingerprint(game_ids: Sequence[str], rounds_per_game: IntArray, min_label_step: int) -> str:
    digest = hashlib.sha256()
    digest.update(f"feature_version={FEATURE_VERSION};min_label_step={min_label_step}\n".encode())
    for game_id, n in zip(game_ids, rounds_per_game.tolist(), strict=True):
        digest.update(f"{game_id}:{n}\n".encode())
    return digest.hexdigest()


def build_dataset(
    rows: TrainingRows,
    *,
    legacy_game_stride: int = 5,
    max_rows: int | None = None,
    min_label_step: int = MIN_LABEL_STEP,
) -> Dataset:
    """Keep games as SPEC §5 says and compute the features of their labelled rounds.

    In order:
    1. Games without a labelled round (fewer than ``min_label_step`` rounds) are dropped: they
       hold no training example, and counting them would skew the game-wise splits.
    2. If at least one ``human`` game remains, ``persona`` games and ``simulated`` games (the
       gym's other strategies, any scripted client) are each kept one in ``legacy_game_stride``,
       newest kept (so ``ceil(n / stride)`` of n), so that human play dominates. With only
       persona and simulated games every game is kept.
    3. With ``max_rows``, only the newest whole games whose labelled rows fit within it are kept
       (a game is never split; possibly none fits).

    ``stats``: ``games``, ``rounds``, ``labelled_rows`` and ``human_games``, ``persona_games``,
    ``simulated_games`` of the result; ``games_fetched``; ``games_without_labels`` (step 1);
    ``persona_games_total`` / ``persona_games_kept`` and ``simulated_games_total`` /
    ``simulated_games_kept`` (before / after step 2);
    ``games_over_row_cap`` (dropped by step 3).
    """
    if legacy_game_stride < 1:
        raise ValueError(f"legacy_game_stride must be at least 1, got {legacy_game_stride}")
    if max_rows is not None and max_rows < 0:
        raise ValueError(f"max_rows must not be negative, got {max_rows}")
    full = RoundTable(
        game_index=rows.game_index,
        step_no=rows.step_no,
        user_move=rows.user_move,
        bot_move=rows.bot_move,
        result=rows.result,
        values=rows.values,
        user_score=rows.user_score,
        bot_score=rows.bot_score,
    )
    labelled = labelled_mask(full, min_label_step)
    labelled_per_game = np.bincount(full.game_index[labelled], minlength=rows.n_games)
    sources = np.array([s.value for s in rows.game_sources], dtype=object)
    is_persona = sources == GameSource.PERSONA.value
    is_simulated = sources == GameSource.SIMULATED.value
    is_human = sources == GameSource.HUMAN.value

    kept = labelled_per_game > 0
    stats = {"games_fetched": rows.n_games, "games_without_labels": int((~kept).sum())}
    stats["persona_games_total"] = int((kept & is_persona).sum())
    stats["simulated_games_total"] = int((kept & is_simulated).sum())
    if (kept & is_human).any():
        kept &= ~is_persona | _persona_kept(kept & is_persona, legacy_game_stride)
        kept &= ~is_simulated | _persona_kept(kept & is_simulated, legacy_game_stride)
    stats["persona_games_kept"] = int((kept & is_persona).sum())
    stats["simulated_games_kept"] = int((kept & is_simulated).sum())
    if max_rows is not None:
        within = np.zeros(rows.n_games, dtype=bool)
        within[kept] = _newest_within(labelled_per_game[kept], max_rows)
        stats["games_over_row_cap"] = int((kept & ~within).sum())
        kept &= within
    else:
        stats["games_over_row_cap"] = 0

    kept_games = np.flatnonzero(kept)
    new_index = np.full(rows.n_games, -1, dtype=np.int64)
    new_index[kept_games] = np.arange(len(kept_games))
    row_kept = kept[full.game_index]
    table = RoundTable(
        game_index=new_index[full.game_index[row_kept]],
        step_no=full.step_no[row_kept],
        user_move=full.user_move[row_kept],
        bot_move=full.bot_move[row_kept],
        result=full.result[row_kept],
        values=full.values[row_kept],
        user_score=full.user_score[row_kept],
        bot_score=full.bot_score[row_kept],
    )
    row_index = np.flatnonzero(labelled_mask(table, min_label_step)).astype(np.int64)
    game_ids = tuple(rows.game_ids[g] for g in kept_games.tolist())
    game_sources = tuple(rows.game_sources[g] for g in kept_games.tolist())
    rounds_per_game = np.bincount(table.game_index, minlength=len(kept_games)).astype(np.int64)
    stats |= {
        "games": len(kept_games),
        "rounds": len(table),
        "labelled_rows": len(row_index),
        "human_games": int(is_human[kept_games].sum()),
        "persona_games": int(is_persona[kept_games].sum()),
        "simulated_games": int((sources[kept_games] == GameSource.SIMULATED.value).sum()),
    }
    return Dataset(
        table=table,
        game_ids=game_ids,
        game_sources=game_sources,
        game_created_at=tuple(rows.game_created_at[g] for g in kept_games.tolist()),
        X=batch_features(table)[row_index].astype(np.float32),
        y=labels(table)[row_index],
        row_game=table.game_index[row_index],
        row_index=row_index,
        min_label_step=min_label_step,
        fingerprint=_fingerprint(game_ids, rounds_per_game, min_label_step),
        stats=stats,
    )


def load_dataset(
    db: Database,
    *,
    since: datetime | None = None,
    legacy_game_stride: int = 5,
    max_rows: int | None = None,
    min_label_step: int = MIN_LABEL_STEP,
) -> Dataset:
    """The dataset of the stored games: non-test games created at/after ``since`` (UTC-aware),
    finished or not, kept and featurised by :func:`build_dataset`."""
    return build_dataset(
        fetch_training_rounds(db, since=since),
        legacy_game_stride=legacy_game_stride,
        max_rows=max_rows,
        min_label_step=min_label_step,
    )


def training_rows_from_games(
    games: Sequence[Game],
    sources: Sequence[str] | None = None,
    created_at: Sequence[datetime] | None = None,
) -> TrainingRows:
    """In-memory games as if read from the database, oldest first in the order given.

    ``sources`` default to ``human`` for every game; ``created_at`` to one second apart from a
    fixed origin. Given timestamps must not decrease (the order given is the chronology).
    """
    n = len(games)
    game_sources = tuple(GameSource(s) for s in (sources or [GameSource.HUMAN] * n))
    if created_at is None:
        created_at = [_SYNTHETIC_EPOCH + timedelta(seconds=i) for i in range(n)]
    if len(game_sources) != n or len(created_at) != n:
        raise ValueError(
            f"{n} games but {len(game_sources)} sources and {len(created_at)} timestamps"
        )
    if any(later < earlier for earlier, later in itertools.pairwise(created_at)):
        raise ValueError("games must be given oldest first: created_at decreases")
    table = RoundTable.from_games(games)
    return TrainingRows(
        game_ids=tuple(g.game_id for g in games),
        game_created_at=tuple(created_at),
        game_sources=game_sources,
        game_index=table.game_index,
        step_no=table.step_no,
        user_move=table.user_move,
        bot_move=table.bot_move,
        result=table.result,
        values=table.values,
        user_score=table.user_score,
        bot_score=table.bot_score,
    )


def dataset_from_games(
    games: Sequence[Game],
    sources: Sequence[str] | None = None,
    *,
    created_at: Sequence[datetime] | None = None,
    legacy_game_stride: int = 5,
    max_rows: int | None = None,
    min_label_step: int = MIN_LABEL_STEP,
) -> Dataset:
    """A dataset of in-memory games (tests, benchmarks), as :func:`load_dataset` would build it
    from the same games stored in this order; see :func:`training_rows_from_games`.

    With the default sources (all ``human``) no game is downsampled.
    """
    return build_dataset(
        training_rows_from_games(games, sources, created_at),
        legacy_game_stride=legacy_game_stride,
        max_rows=max_rows,
        min_label_step=min_label_step,
    )
