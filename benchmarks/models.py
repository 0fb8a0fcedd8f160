"""Seconds per fit and accuracy of each model family, SPEC defaults against the shipped configs.

    .venv/bin/python benchmarks/models.py [--rows 2000 16000 80000] [--families ...]
        [--configs defaults Production B shadow1 shadow2] [--seed 0]

Simulates persona games in memory (every persona as the user against every persona as the bot),
splits them by whole games into train / validation / test (rows ≈ N / N/4 / N/4 for a fit on N
training rows), fits each family with a validation set (early stopping on) and prints, per fit:
wall and CPU seconds (CPU well below wall on a 1-thread fit means other processes held the
cores: the figure is noisy), iterations run and kept, validation and test accuracy, and the ONNX
export + check time.
The budget it is read against (SPEC §5, §14): 60 fits (3 families × 4 aliases × 5 fits of the
three-step evaluation) on 3k rounds in ≤ 30 s, on 100k rounds in ≤ 10 min, on 2 cores. Figures
only; nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import time
from typing import Any

import numpy as np

from rps.domain.game import Game
from rps.domain.personas import PersonaName, persona_move
from rps.domain.policy import Family
from rps.features import RoundTable, batch_features, labelled_mask, labels
from rps.models.catalog import FAMILY_CLASSES, model_for
from rps.models.onnx_export import check_onnx

# One config per alias and family: what src/rps/configs/model_hyperparameters.json should ship.
SHIPPED: dict[Family, dict[str, dict[str, Any]]] = {
    Family.FEEDFORWARD_NN: {
        "Production": {
            "hidden_sizes": [128, 64],
            "dropout": 0.2,
            "batch_size": 1024,
            "lr": 0.01,
            "epochs": 60,
            "patience": 8,
            "lr_patience": 3,
        },
        "B": {
            "hidden_sizes": [64, 32],
            "dropout": 0.3,
            "batch_size": 512,
            "lr": 0.01,
            "epochs": 60,
            "patience": 8,
            "lr_patience": 3,
        },
        "shadow1": {
            "hidden_sizes": [128, 64],
            "dropout": 0.2,
            "batch_size": 1024,
            "lr": 0.01,
            "epochs": 60,
            "patience": 8,
            "lr_patience": 3,
            "lambda_danger": 0.5,
        },
        "shadow2": {
            "hidden_sizes": [96, 48],
            "dropout": 0.1,
            "batch_size": 2048,
            "lr": 0.02,
            "epochs": 60,
            "patience": 8,
            "lr_patience": 3,
        },
    },
    Family.XGBOOST: {
        "Production": {
            "n_estimators": 150,
            "learning_rate": 0.15,
            "max_depth": 5,
            "early_stopping_rounds": 15,
        },
        "B": {
            "n_estimators": 150,
            "learning_rate": 0.2,
            "max_depth": 6,
            "min_child_weight": 4,
            "early_stopping_rounds": 15,
        },
        "shadow1": {
            "n_estimators": 300,
            "learning_rate": 0.1,
            "max_depth": 4,
            "max_bin": 64,
            "early_stopping_rounds": 15,
        },
        "shadow2": {"n_estimators": 150, "learning_rate": 0.15, "early_stopping_rounds": 15},
    },
    Family.MULTINOMIAL_LOGISTIC: {
        "Production": {"batch_size": 512, "lr": 0.005, "epochs": 60, "patience": 12},
        "B": {
            "batch_size": 512,
            "lr": 0.005,
            "epochs": 60,
            "patience": 12,
            "class_weight_balanced": False,
        },
        "shadow1": {
            "batch_size": 512,
            "lr": 0.005,
            "epochs": 60,
            "patience": 12,
            "lambda_danger": 0.5,
        },
        "shadow2": {"batch_size": 512, "lr": 0.005, "epochs": 60, "patience": 12, "l2": 10.0},
    },
}


def simulate(games: int, seed: int) -> list[Game]:
    """``games`` persona-against-persona games, cycling through all 64 pairings."""
    rng = random.Random(seed)
    pairings = itertools.cycle(itertools.product(PersonaName, repeat=2))
    played = []
    for i, (user, bot) in zip(range(games), pairings, strict=False):
        game = Game(f"bench-models-{seed}-{i}")
        while not game.finished:
            game.play(
                persona_move(user, game.view("user"), rng),
                persona_move(bot, game.view("bot"), rng),
            )
        played.append(game)
    return played


Split = tuple[np.ndarray, np.ndarray]


def dataset(train_rows: int, seed: int) -> tuple[Split, Split, Split]:
    """Train / validation / test of about ``train_rows`` / a quarter / a quarter labelled rows,
    split by whole games (games are shuffled, so every split holds every pairing)."""
    wanted = int(train_rows * 1.5)
    games = simulate(max(64, wanted // 11), seed)  # ~11.5 labelled rows per game
    table = RoundTable.from_games(games)
    mask = labelled_mask(table)
    rows = batch_features(table).astype(np.float32)[mask]
    moves, game = labels(table)[mask], table.game_index[mask]
    order = np.random.default_rng(seed).permutation(len(games))
    rank = np.empty_like(order)
    rank[order] = np.arange(len(games))
    position = rank[game] / len(games)
    train, val = position < 4 / 6, (position >= 4 / 6) & (position < 5 / 6)
    test = position >= 5 / 6
    return (rows[train], moves[train]), (rows[val], moves[val]), (rows[test], moves[test])


def warm_up() -> None:
    """One tiny fit and export per family, so no timing below pays for first-call setup."""
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(256, 50)).astype(np.float32)
    moves = rng.integers(0, 3, size=256)
    for family in Family:
        model = model_for(family, {}, seed=0)
        model.fit(rows, moves, rows, moves, max_iterations=2)
        check_onnx(model, model.to_onnx(), rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[2_000, 16_000, 80_000])
    parser.add_argument("--families", nargs="+", default=[f.value for f in Family])
    parser.add_argument(
        "--configs", nargs="+", default=["defaults", "Production", "B", "shadow1", "shadow2"]
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=JSON",
        help="override a hyperparameter in every config measured, e.g. n_jobs=1",
    )
    args = parser.parse_args()
    overrides = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}

    header = (
        f"{'family':<21} {'config':<10} {'train':>6} {'fit s':>7} {'cpu s':>6} {'iters':>5} "
        f"{'kept':>5} {'val acc':>7} {'test acc':>8} {'onnx s':>6}"
    )
    print(header)
    print("-" * len(header))
    totals: dict[tuple[str, int], float] = {}
    warm_up()
    for rows in args.rows:
        train, val, test = dataset(rows, args.seed)
        for family, config in itertools.product(map(Family, args.families), args.configs):
            values = {} if config == "defaults" else SHIPPED[family][config]
            fields = FAMILY_CLASSES[family].hyperparameter_type.model_fields
            values = {**values, **{k: v for k, v in overrides.items() if k in fields}}
            model = model_for(family, values, seed=args.seed)
            started, cpu_started = time.perf_counter(), time.process_time()
            report = model.fit(*train, *val)
            fit_s = time.perf_counter() - started
            cpu_s = time.process_time() - cpu_started
            started = time.perf_counter()
            check_onnx(model, model.to_onnx(), test[0])
            onnx_s = time.perf_counter() - started
            val_acc = float((model.predict_proba(val[0]).argmax(1) == val[1]).mean())
            test_acc = float((model.predict_proba(test[0]).argmax(1) == test[1]).mean())
            if config != "defaults":
                totals[(config, rows)] = totals.get((config, rows), 0.0) + fit_s + onnx_s
            print(
                f"{family.value:<21} {config:<10} {len(train[1]):>6} {fit_s:>7.2f} {cpu_s:>6.2f} "
                f"{report.iterations_run:>5} {report.best_iteration:>5} {val_acc:>7.3f} "
                f"{test_acc:>8.3f} {onnx_s:>6.2f}",
                flush=True,
            )
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f} (≈ 1 when only this ran)")
    if totals:
        # the three-step evaluation fits on 60 %, 80 % and 3 × 40 % of the labelled rows: about
        # 2.6 fits on all of them, if fit time grows linearly with rows
        print("\nshipped configs: one fit (+ ONNX) of every family × alias, and the estimate for")
        print("the three-step evaluation of all 12 models on a dataset of that many labelled rows")
        for rows in args.rows:
            total = sum(s for (_, r), s in totals.items() if r == rows)
            print(f"  {rows:>6} rows: {total:6.1f} s once; three-step ≈ {2.6 * total:6.1f} s")


if __name__ == "__main__":
    main()
