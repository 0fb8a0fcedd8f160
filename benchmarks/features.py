"""Feature throughput: batch (training) against online (serving), measured in the same run.

    .venv/bin/python benchmarks/features.py [--games N] [--repeats R]

Simulates N persona games in memory, then times ``batch_features`` over the whole table and
``online_features`` row by row over the same rounds (best of R runs each), plus the incremental
``OnlineFeatureState``. Prints figures only; nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import itertools
import random
import time
from collections.abc import Callable

import numpy as np

from rps.domain.game import Game
from rps.domain.personas import PersonaName, persona_move
from rps.features import OnlineFeatureState, RoundTable, batch_features, online_features


def simulate(games: int, seed: int) -> list[Game]:
    """``games`` persona-against-persona games, cycling through all 64 pairings."""
    rng = random.Random(seed)
    pairings = itertools.cycle(itertools.product(PersonaName, repeat=2))
    played = []
    for i, (user, bot) in zip(range(games), pairings, strict=False):
        game = Game(f"bench-{seed}-{i}")
        while not game.finished:
            game.play(
                persona_move(user, game.view("user"), rng),
                persona_move(bot, game.view("bot"), rng),
            )
        played.append(game)
    return played


def best_of(repeats: int, run: Callable[[], object]) -> float:
    """The fastest of ``repeats`` timings of ``run``, in seconds."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def online_rows(games: list[Game]) -> list[np.ndarray]:
    """What the server does: one call per round from the game's history so far."""
    return [online_features(g.rounds[:n], r.values) for g in games for n, r in enumerate(g.rounds)]


def incremental_rows(games: list[Game]) -> list[np.ndarray]:
    rows = []
    for game in games:
        state = OnlineFeatureState()
        for played in game.rounds:
            rows.append(state.row(played.values))
            state.push(played)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", type=int, default=3_000, help="games to simulate")
    parser.add_argument("--repeats", type=int, default=5, help="timings per path; best is kept")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    start = time.perf_counter()
    games = simulate(args.games, args.seed)
    table = RoundTable.from_games(games)
    rounds = len(table)
    print(
        f"simulated {args.games:,} games, {rounds:,} rounds in {time.perf_counter() - start:.2f} s"
    )

    same = np.array_equal(batch_features(table), np.array(online_rows(games)))
    print(f"batch ≡ online on these rounds: {same}")

    table_s = best_of(args.repeats, lambda: RoundTable.from_games(games))
    batch_s = best_of(args.repeats, lambda: batch_features(table))
    online_s = best_of(args.repeats, lambda: online_rows(games))
    incremental_s = best_of(args.repeats, lambda: incremental_rows(games))

    print(f"best of {args.repeats}:")
    print(f"  RoundTable.from_games   {rounds / table_s:>12,.0f} rounds/s")
    print(f"  batch_features          {rounds / batch_s:>12,.0f} rounds/s")
    print(
        f"  online_features         {rounds / online_s:>12,.0f} rounds/s"
        f"   ({online_s / rounds * 1e6:.1f} µs/row, history rebuilt each call)"
    )
    print(
        f"  OnlineFeatureState.row  {rounds / incremental_s:>12,.0f} rounds/s"
        f"   ({incremental_s / rounds * 1e6:.1f} µs/row incl. push)"
    )
    print(f"batch is {online_s / batch_s:.0f}× online per round")


if __name__ == "__main__":
    main()
