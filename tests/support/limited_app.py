"""Apps with chosen body caps and rate limits over one shared, migrated database (the tests of
SPEC §9's limits build many apps; each has its own buckets and read cache, as each process
does)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from rps.api.app import create_app
from rps.bootstrap import Container, build_container
from rps.persistence.database import Database, migrate
from rps.persistence.tables import (
    alias_predictions,
    games,
    model_assignments,
    promotion_events,
    rounds,
)
from rps.settings import load_settings

TOKEN = "limits-admin-token-0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
JSON = {"content-type": "application/json"}

_TABLES = (games, rounds, alias_predictions, promotion_events, model_assignments)


@dataclass
class LimitsPlatform:
    data_path: Path
    container: Container

    def app(
        self, *, fast_play: bool = True, clock: LimitsClock | None = None, **settings: Any
    ) -> FastAPI:
        """An app over the shared storage with these settings (the lifespan is not run: the
        storage is attached as it is), its rate limits on ``clock`` if one is given."""
        app = create_app(
            load_settings(DATA_PATH=self.data_path, RPS_ADMIN_TOKEN=TOKEN, **settings),
            fast_play=fast_play,
        )
        app.state.container = self.container
        if clock is not None:
            app.state.rate_limits.clock = clock
        return app

    def client(
        self,
        *,
        peer: str = "198.51.100.10",
        fast_play: bool = True,
        clock: LimitsClock | None = None,
        **settings: Any,
    ) -> TestClient:
        """A client of a new app, connecting from ``peer``."""
        app = self.app(fast_play=fast_play, clock=clock, **settings)
        return TestClient(app, client=(peer, 50000))

    def rows(self) -> dict[str, int]:
        """How many rows each table that a request could write holds."""
        with self.container.database.engine.connect() as conn:
            return {
                table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
                for table in _TABLES
            }


class LimitsClock:
    """A clock for the rate limits' buckets that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def new_limits_platform(data_path: Path) -> LimitsPlatform:
    settings = load_settings(DATA_PATH=data_path, RPS_ADMIN_TOKEN=TOKEN)
    database = Database(settings.database_url)
    migrate(database)
    database.dispose()
    container = build_container(settings, rng=random.Random(7), opening_rng=random.Random(11))
    container.models.reload()  # no models: every family@alias plays its fallback
    return LimitsPlatform(data_path, container)


def start(client: TestClient, headers: dict[str, str] | None = None) -> Any:
    return client.post("/start_game", json={"policy": "logan"}, headers=headers)


def new_game(client: TestClient) -> str:
    """A game started with the admin token (counted against no limit)."""
    response = client.post(
        "/start_game", json={"policy": "logan", "player_name": "Limits"}, headers=ADMIN
    )
    assert response.status_code == 200, response.text
    return str(response.json()["game_id"])
