"""In-memory persona games and the feature matrices the model tests train on."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rps.domain.game import Game
from rps.domain.history import PlayerView
from rps.domain.move import Move
from rps.domain.personas import PersonaName, persona_move
from rps.features import RoundTable, batch_features, labelled_mask, labels

UserRule = Callable[[PlayerView, random.Random], Move]
BOT_SIDES = tuple(PersonaName)


def persona_rule(name: PersonaName) -> UserRule:
    return lambda view, rng: persona_move(name, view, rng)


def always_rock(view: PlayerView, rng: random.Random) -> Move:
    return Move.ROCK


def play_games(user: UserRule, games: int, seed: int) -> list[Game]:
    """``games`` whole games of ``user`` on the user side; the bot side cycles through every
    persona's rule (openings aside, as a persona opponent plays), all drawing from one RNG."""
    rng = random.Random(seed)
    played = []
    for i in range(games):
        bot = BOT_SIDES[i % len(BOT_SIDES)]
        game = Game(f"model-test-{seed}-{i}")
        while not game.finished:
            game.play(user(game.view("user"), rng), persona_move(bot, game.view("bot"), rng))
        played.append(game)
    return played


@dataclass(frozen=True)
class Dataset:
    """Labelled rows of whole games, split by game in play order."""

    X: np.ndarray
    y: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def dataset(games: list[Game], val_share: float = 0.2, test_share: float = 0.2) -> Dataset:
    """The last ``test_share`` of the games are the test set, the ``val_share`` before them
    validation, the rest training; a game's rounds never straddle two parts."""
    table = RoundTable.from_games(games)
    mask = labelled_mask(table)
    rows = batch_features(table).astype(np.float32)[mask]
    moves = labels(table)[mask]
    position = table.game_index[mask] / len(games)
    train = position < 1 - val_share - test_share
    test = position >= 1 - test_share
    val = ~train & ~test
    return Dataset(rows[train], moves[train], rows[val], moves[val], rows[test], moves[test])


def accuracy(probabilities: np.ndarray, y: np.ndarray) -> float:
    return float((probabilities.argmax(axis=1) == y).mean())
