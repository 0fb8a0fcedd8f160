"""The admin token's rules (SPEC §9): long enough, trimmed, and a file only its owner can read."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from rps.settings import ADMIN_TOKEN_MIN_LENGTH, AdminTokenError, Settings, load_settings

GOOD = "a-good-admin-token-0123456789"


def token_file(data: Path, content: str, mode: int = 0o600) -> Path:
    data.mkdir(parents=True, exist_ok=True)
    path = data / "admin-token"
    path.write_text(content, encoding="utf-8")
    path.chmod(mode)
    return path


def settings_for(data: Path, **overrides: str) -> Settings:
    return load_settings(DATA_PATH=data, **overrides)


def test_a_short_token_in_the_environment_is_refused_naming_the_fix(tmp_path):
    settings = settings_for(tmp_path, RPS_ADMIN_TOKEN="hunter2")

    with pytest.raises(AdminTokenError) as refused:
        settings.admin_token()

    message = str(refused.value)
    assert "RPS_ADMIN_TOKEN" in message
    assert "7 characters" in message
    assert f"at least {ADMIN_TOKEN_MIN_LENGTH}" in message
    assert "rps token rotate" in message
    assert "hunter2" not in message  # the reason, never the token


def test_a_short_token_in_the_file_is_refused_naming_the_file_and_the_command(tmp_path):
    path = token_file(tmp_path, "short-token\n")

    with pytest.raises(AdminTokenError) as refused:
        settings_for(tmp_path).admin_token()

    assert str(path) in str(refused.value)
    assert "rps token rotate" in str(refused.value)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620])
def test_a_token_file_open_to_group_or_others_is_refused_naming_chmod(tmp_path, mode):
    path = token_file(tmp_path, GOOD, mode)

    with pytest.raises(AdminTokenError) as refused:
        settings_for(tmp_path).admin_token()

    assert f"chmod 600 {path}" in str(refused.value)
    assert f"{mode:04o}" in str(refused.value)


def test_a_token_file_owned_by_another_user_is_refused(tmp_path, monkeypatch):
    path = token_file(tmp_path, GOOD)
    monkeypatch.setattr(os, "geteuid", lambda: path.stat().st_uid + 1)

    with pytest.raises(AdminTokenError, match="owned by another user") as refused:
        settings_for(tmp_path).admin_token()

    assert str(path) in str(refused.value)


def test_an_empty_token_file_is_refused_rather_than_disabling_admin(tmp_path):
    token_file(tmp_path, "  \n")

    with pytest.raises(AdminTokenError, match="empty"):
        settings_for(tmp_path).admin_token()


def test_tokens_are_trimmed_when_read(tmp_path):
    token_file(tmp_path / "file", f"\n  {GOOD}  \n\n")

    assert settings_for(tmp_path / "file").admin_token() == GOOD
    assert settings_for(tmp_path / "env", RPS_ADMIN_TOKEN=f" {GOOD}\n").admin_token() == GOOD
    # Padding does not count towards the length.
    with pytest.raises(AdminTokenError):
        settings_for(tmp_path, RPS_ADMIN_TOKEN="  short  " + " " * 30).admin_token()


def test_a_good_file_is_accepted_and_no_token_at_all_disables_admin(tmp_path):
    token_file(tmp_path / "good", GOOD)

    assert settings_for(tmp_path / "good").admin_token() == GOOD
    assert settings_for(tmp_path / "none").admin_token() is None
    assert settings_for(tmp_path / "blank", RPS_ADMIN_TOKEN="  ").admin_token() is None


def test_up_creates_a_long_owner_only_token_once_even_under_a_loose_umask(tmp_path):
    settings = settings_for(tmp_path / "data")
    previous = os.umask(0)
    try:
        token, path = settings.ensure_admin_token()
    finally:
        os.umask(previous)

    assert path == tmp_path / "data" / "admin-token"
    assert len(token) >= ADMIN_TOKEN_MIN_LENGTH
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert settings.admin_token() == token
    assert settings.ensure_admin_token() == (token, path)


def test_up_refuses_an_existing_token_it_may_not_use_instead_of_replacing_it(tmp_path):
    path = token_file(tmp_path, "tiny")

    with pytest.raises(AdminTokenError):
        settings_for(tmp_path).ensure_admin_token()

    assert path.read_text() == "tiny"


def test_rotating_replaces_the_token_with_a_new_owner_only_one(tmp_path):
    path = token_file(tmp_path, GOOD, 0o644)
    settings = settings_for(tmp_path)
    previous = os.umask(0)
    try:
        new = settings.write_admin_token()
    finally:
        os.umask(previous)

    assert new != GOOD
    assert len(new) >= ADMIN_TOKEN_MIN_LENGTH
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert settings.admin_token() == new
    assert [p.name for p in tmp_path.iterdir()] == ["admin-token"]  # no staging file left
