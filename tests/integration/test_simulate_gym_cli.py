"""`rps simulate --users` with the opponent gym (SPEC §2.1, §5): strategies and groups play the
user side, stored as simulated games under `sim-<strategy>-<n>` (personas as persona games), and
holdout strategies never feed training data."""

from __future__ import annotations

from pathlib import Path

from rps.domain.gym import GymGroup, GymPart, strategies_in
from tests.integration.test_cli import _assert_scores_match_rounds, _env, _output, _query, rps

NAIVE_TRAINING = [s.name for s in strategies_in([GymGroup.NAIVE], GymPart.TRAINING)]
HOLDOUT = [s.name for s in strategies_in(part=GymPart.HOLDOUT)]


def test_gym_strategies_and_groups_are_stored_as_simulated_games_and_personas_as_persona(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    users = ["frequency", *NAIVE_TRAINING, "cal"]

    result = rps(
        "simulate",
        *("--users", "frequency,naive:training,cal", "--policies", "logan"),
        *("--games", str(len(users)), "--seed", "2"),
        env=_env(data),
    )

    assert result.returncode == 0, _output(result)
    games = _query(data, "SELECT player_name, source, is_test FROM games ORDER BY created_at")
    # Round-robin in the order the selectors name them, each game numbered in the plan.
    expected = {(f"sim-{name}-{n}", "simulated") for n, name in enumerate(users[:-1])}
    assert {(g["player_name"], g["source"]) for g in games} == expected | {("Cal", "persona")}
    assert not any(g["is_test"] for g in games)
    _assert_scores_match_rounds(data)


def test_holdout_strategies_without_test_exit_2_naming_them_and_store_nothing(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"

    result = rps("simulate", "--users", "rock,holdout", "--games", "3", env=_env(data))

    assert result.returncode == 2, _output(result)
    output = " ".join(_output(result).split())
    assert f"{', '.join(HOLDOUT)}: holdout strategies never play training data" in output
    assert "--test" in output
    assert "rock," not in output  # a training strategy is not named among them
    assert "Traceback" not in output
    if (data / "rps.db").exists():
        assert _query(data, "SELECT count(*) AS n FROM games") == [{"n": 0}]


def test_holdout_strategies_with_test_are_stored_as_test_games(tmp_path: Path) -> None:
    data = tmp_path / "data"

    result = rps(
        "simulate",
        *("--users", "adaptive:holdout", "--policies", "brian", "--games", "4", "--test"),
        env=_env(data),
    )

    assert result.returncode == 0, _output(result)
    games = _query(data, "SELECT player_name, source, is_test FROM games")
    adaptive_holdout = [s.name for s in strategies_in([GymGroup.ADAPTIVE], GymPart.HOLDOUT)]
    assert {g["player_name"] for g in games} == {
        f"sim-{name}-{n}" for n, name in enumerate(adaptive_holdout[:4])
    }
    assert all(g["is_test"] and g["source"] == "simulated" for g in games)


def test_an_unknown_gym_selector_exits_2_naming_it(tmp_path: Path) -> None:
    data = tmp_path / "data"

    result = rps("simulate", "--users", "naive,adaptive:later", "--games", "2", env=_env(data))

    assert result.returncode == 2, _output(result)
    assert "unknown opponent 'adaptive:later'" in _output(result)
    assert "Traceback" not in _output(result)
    if (data / "rps.db").exists():
        assert _query(data, "SELECT count(*) AS n FROM games") == [{"n": 0}]
