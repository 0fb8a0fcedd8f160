"""`rps token rotate` (a new admin token in $DATA_PATH/admin-token) and `rps token check`.

The token rules (SPEC §9) live in ``Settings.admin_token``: at least 24 characters, trimmed, and
a file only its owner may read. These commands make a token that passes them and say whether
the configured one does.
"""

from __future__ import annotations

import typer

from rps.cli.common import console, settings_or_exit
from rps.settings import ADMIN_TOKEN_MIN_LENGTH, AdminTokenError, Settings

token_app = typer.Typer(help="The admin token: make a new one, or check the configured one.")


@token_app.command("rotate")
def rotate() -> None:
    """Write a new random admin token to $DATA_PATH/admin-token (mode 0600), replacing the old
    one. The app reads the file on every admin request, so the new token works at once."""
    settings = settings_or_exit()
    settings.write_admin_token()
    path = settings.admin_token_path
    console.print(f"new admin token in {path} (mode 0600); read it with: cat {path}")
    if _from_environment(settings):
        console.print(
            "[yellow]RPS_ADMIN_TOKEN is set and wins over the file: unset it (or set it to "
            "the new token) for the file to be used[/yellow]"
        )
    console.print(
        "the app and `rps up`'s background gameplay read it on their next request; on "
        "Kubernetes the token is the rps-admin Secret instead (see docs/operations.md)"
    )


@token_app.command("check")
def check() -> None:
    """Exit 0 when the configured admin token may be used, 2 (with the reason) when not."""
    settings = settings_or_exit()
    try:
        token = settings.admin_token()
    except AdminTokenError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    if token is None:
        console.print(
            f"no admin token: set RPS_ADMIN_TOKEN (at least {ADMIN_TOKEN_MIN_LENGTH} "
            "characters) or run `rps token rotate`; admin endpoints answer 403 until then"
        )
        raise typer.Exit(1)
    where = "RPS_ADMIN_TOKEN" if _from_environment(settings) else str(settings.admin_token_path)
    console.print(f"admin token from {where}: {len(token)} characters, usable")


def _from_environment(settings: Settings) -> bool:
    secret = settings.RPS_ADMIN_TOKEN
    return secret is not None and bool(secret.get_secret_value().strip())


def register(app: typer.Typer) -> None:
    app.add_typer(token_app, name="token")
