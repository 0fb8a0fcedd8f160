"""`rps serve`, `rps up` and the token commands refuse what they must, with exit code 2 and the
command that fixes it (SPEC §9): run as a user runs them, in a child process."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from rps.persistence.database import Database, migrate
from rps.settings import Settings
from tests.support.legacy_db import legacy_games, write_legacy_db

GOOD_TOKEN = "startup-refusals-token-0123456789"


def _env(data_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in Settings.model_fields}
    env.update(COLUMNS="250", NO_COLOR="1", TERM="dumb", DATA_PATH=str(data_path))
    env.update(extra)
    return env


def rps(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # A refusal comes before the server would start: the timeout fails a test that would hang.
    return subprocess.run(
        [sys.executable, "-m", "rps.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def output(result: subprocess.CompletedProcess[str]) -> str:
    return " ".join((result.stdout + result.stderr).split())


def assert_refused(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    text = output(result)
    assert result.returncode == 2, text
    assert "Traceback" not in text
    for needle in needles:
        assert needle in text, text


def test_serve_refuses_an_unmigrated_database_naming_rps_migrate(tmp_path, database_url):
    result = rps("serve", "--port", "9", env=_env(tmp_path / "data", DATABASE_URL=database_url))

    assert_refused(result, "refusing to start", "no schema yet", "rps migrate")


def test_serve_refuses_a_database_at_an_older_revision(tmp_path, database_url):
    db = Database(database_url)
    migrate(db, "0005")
    db.dispose()

    result = rps("serve", "--port", "9", env=_env(tmp_path / "data", DATABASE_URL=database_url))

    assert_refused(result, "revision 0005", "rps migrate")


def test_serve_and_up_refuse_the_originals_database_naming_import_legacy(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    write_legacy_db(data / "rps.db", legacy_games(2))
    env = _env(data, RPS_ADMIN_TOKEN=GOOD_TOKEN)

    served = rps("serve", "--port", "9", env=env)
    upped = rps("up", "--port", "9", "--no-bootstrap", "--no-scheduler", env=env)
    migrated = rps("migrate", env=env)

    for result in (served, upped, migrated):
        assert_refused(result, "original system's rps.db", "rps import-legacy")


def test_serve_refuses_a_short_admin_token_naming_the_command_that_makes_one(tmp_path):
    result = rps("serve", "--port", "9", env=_env(tmp_path / "data", RPS_ADMIN_TOKEN="seven77"))

    assert_refused(result, "RPS_ADMIN_TOKEN", "7 characters", "at least 24", "rps token rotate")
    assert "seven77" not in output(result)


def test_up_refuses_a_world_readable_token_file_before_touching_the_database(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    token_file = data / "admin-token"
    token_file.write_text(GOOD_TOKEN)
    token_file.chmod(0o644)

    result = rps("up", "--port", "9", "--no-bootstrap", "--no-scheduler", env=_env(data))

    assert_refused(result, str(token_file), f"chmod 600 {token_file}")
    assert not (data / "rps.db").exists()


def test_token_rotate_replaces_a_refused_token_with_one_that_check_accepts(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "admin-token").write_text("hunter2")
    (data / "admin-token").chmod(0o600)
    env = _env(data)
    assert_refused(rps("token", "check", env=env), "7 characters", "rps token rotate")

    rotated = rps("token", "rotate", env=env)
    checked = rps("token", "check", env=env)

    assert rotated.returncode == 0, output(rotated)
    token = (data / "admin-token").read_text().strip()
    assert len(token) >= 24
    assert token not in output(rotated)  # it says where the token is, not what it is
    assert stat.S_IMODE((data / "admin-token").stat().st_mode) == 0o600
    assert checked.returncode == 0, output(checked)
    assert "usable" in output(checked)


def test_a_command_that_uses_the_token_gives_the_same_reason(tmp_path):
    result = rps(
        "simulate",
        *("--via", "http://127.0.0.1:9", "--games", "1"),
        env=_env(tmp_path / "data", RPS_ADMIN_TOKEN="short-token"),
    )

    assert_refused(result, "11 characters", "rps token rotate")
