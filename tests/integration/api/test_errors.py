"""No bare 500, request ids, nosniff, capped echoes and a public /info (SPEC §9 Hardening)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from rps.api.app import create_app
from rps.api.routers.misc import INFO_KEYS
from rps.bootstrap import Container
from rps.domain.errors import GameNotFound
from rps.settings import load_settings
from tests.conftest import ADMIN_TOKEN


class Boom(RuntimeError):
    pass


def explode(*_args: object, **_kwargs: object) -> None:
    raise Boom("the storage went away (secret detail that must stay in the log)")


@pytest.fixture(params=[True, False], ids=["fast-path", "route"])
def app_client(request: pytest.FixtureRequest, container: Container) -> Iterator[TestClient]:
    """The app with and without the ``/play`` fast path."""
    with TestClient(create_app(container=container, fast_play=request.param)) as client:
        yield client


def assert_internal_error(response, caplog) -> str:
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    request_id = response.headers["x-request-id"]
    assert body == {"detail": "internal error", "request_id": request_id}
    assert "secret detail" not in response.text
    logged = [r for r in caplog.records if getattr(r, "request_id", None) == request_id]
    assert len(logged) == 1
    assert logged[0].levelno == logging.ERROR
    assert logged[0].exc_info is not None
    assert logged[0].exc_info[0] is Boom
    assert request_id in logged[0].getMessage()
    return request_id


def test_an_unexpected_error_in_play_is_a_json_500_with_a_logged_request_id(
    app_client, container, monkeypatch, caplog
):
    game = app_client.post("/start_game", json={"policy": "brian"}).json()
    monkeypatch.setattr(container.gameplay, "play", explode)

    response = app_client.post("/play", json={"game_id": game["game_id"], "user_move": "rock"})

    assert_internal_error(response, caplog)


def test_an_unexpected_error_in_a_route_keeps_a_well_formed_client_request_id(
    client, container, monkeypatch, caplog
):
    monkeypatch.setattr(container.gameplay, "get_game", explode)

    response = client.get("/games/some-game", headers={"X-Request-ID": "proxy-42.a_B"})

    assert assert_internal_error(response, caplog) == "proxy-42.a_B"


@pytest.mark.parametrize(
    "sent",
    ["x" * 65, "has space", "new\\nline", "semi;colon", "ünïcode"],
    ids=["too-long", "space", "backslash", "semicolon", "non-ascii"],
)
def test_a_malformed_client_request_id_is_replaced(client, sent):
    response = client.get("/healthz", headers={"X-Request-ID": sent.encode()})

    given = response.headers["x-request-id"]
    assert given != sent
    assert 1 <= len(given) <= 64
    assert given.isalnum()


def test_every_response_carries_a_request_id_and_nosniff(client):
    ids = set()
    for method, path, body in [
        ("GET", "/healthz", None),
        ("GET", "/info", None),
        ("POST", "/start_game", {"policy": "nobody"}),  # 422
        ("GET", "/games/no-such-game", None),  # 404
        ("POST", "/play", {"game_id": "no-such-game", "user_move": "rock"}),  # fast path 404
        ("GET", "/", None),  # HTML
        ("GET", "/metrics", None),  # text
    ]:
        response = client.request(method, path, json=body)
        assert response.headers["x-content-type-options"] == "nosniff", path
        ids.add(response.headers["x-request-id"])
    assert len(ids) == 7  # one of its own per request


def test_echoed_identifiers_are_capped(client, container, admin_headers):
    long_id = "g" * 500
    with pytest.raises(GameNotFound) as not_found:
        container.gameplay.get_game(long_id)
    static = client.get("/static/" + "s" * 500)
    unknown_field = client.post(
        "/predict",
        headers=admin_headers,
        json={"policy": "brian", "round_values": {"rock": 1, "paper": 1, "scissors": 1}}
        | {"k" * 500: 1},
    )

    assert "g" * 64 + "…" in str(not_found.value)
    assert "g" * 65 not in str(not_found.value)
    assert static.status_code == 404
    assert "s" * 64 + "…" in static.json()["detail"]
    assert "s" * 65 not in static.text
    assert unknown_field.status_code == 422
    assert "k" * 64 + "…" in unknown_field.json()["detail"]
    assert "k" * 65 not in unknown_field.text


SECRETS = {
    "MINIO_ENDPOINT": "http://minio-user:minio-pass-77@minio.internal.example:9000",
    "MODEL_CACHE_URI": "s3://rps-models/serving?X-Amz-Signature=sig-0xdeadbeef",
    "MLFLOW_TRACKING_URI": "https://secrettoken123@mlflow.internal.example/?token=hunter2",
    "APP_URL": "http://admin:app-pass-55@app.internal.example:8000",
    "MINIO_SECRET_KEY": "minio-secret-key-99",
    "MINIO_ACCESS_KEY": "minio-access-key-88",
    "CORS_ORIGINS": "https://play.internal.example",
}


def test_info_shows_public_facts_only(container, tmp_path: Path):
    exposed = load_settings(
        DATA_PATH=tmp_path / "very-private-data-path",
        RPS_ADMIN_TOKEN=ADMIN_TOKEN,
        DATABASE_URL="postgresql+psycopg://rps:db-pass-66@db.internal.example:5432/rps",
        ENABLE_AB_TESTING=False,
        PUBLIC_PREDICT=True,
        GIT_REVISION="abc1234",
        **SECRETS,
    )
    container.settings = exposed  # what /info reads; the storage stays the test's own

    with TestClient(create_app(container=container)) as client:
        response = client.get("/info")

    data = response.json()
    assert set(data) == set(INFO_KEYS)
    assert data["git_revision"] == "abc1234"
    assert data["feature_count"] == 50
    assert data["features"] == {
        "ab_testing": False,
        "public_predict": True,
        "auto_promotion": True,
        "scheduler": True,
        "inference_capture": False,
    }
    for leak in (
        ADMIN_TOKEN,
        "very-private-data-path",
        "internal.example",
        "db-pass-66",
        "minio-pass-77",
        "sig-0xdeadbeef",
        "secrettoken123",
        "hunter2",
        "app-pass-55",
        "minio-secret-key-99",
        "minio-access-key-88",
        "://",
    ):
        assert leak not in response.text, leak


def test_a_token_file_opened_up_under_a_running_server_disables_admin_with_a_503(tmp_path):
    from rps.bootstrap import build_container
    from rps.persistence.database import Database, migrate

    settings = load_settings(DATA_PATH=tmp_path / "data", RPS_ADMIN_TOKEN="")
    token, path = settings.ensure_admin_token()
    db = Database(settings.database_url)
    migrate(db)
    db.dispose()
    built = build_container(settings)
    built.models.reload()
    headers = {"Authorization": f"Bearer {token}"}
    try:
        with TestClient(create_app(container=built)) as client:
            assert client.get("/debug", headers=headers).status_code == 200
            path.chmod(0o644)
            refused = client.get("/debug", headers=headers)
    finally:
        built.close()

    assert refused.status_code == 503
    assert "admin token is refused" in refused.json()["detail"]
    assert str(path) not in refused.text


class LeakySource:
    """A model source whose failure message quotes its URL, credentials and all."""

    name = "registry"

    def fetch(self, family, alias):
        raise ConnectionError(
            "cannot reach https://svc-user:source-pass-42@mlflow.example/api?token=source-tok"
        )

    def generation(self) -> None:
        return None


def test_model_status_and_the_log_mask_credentials_a_source_error_quotes(tmp_path, caplog):
    from rps.bootstrap import build_container
    from rps.persistence.database import Database, migrate

    settings = load_settings(DATA_PATH=tmp_path / "data", RPS_ADMIN_TOKEN=ADMIN_TOKEN)
    db = Database(settings.database_url)
    migrate(db)
    db.dispose()
    built = build_container(settings, model_sources=[LeakySource()])
    try:
        with TestClient(create_app(container=built)) as client:
            built.models.reload()
            status = client.get("/models/status")
    finally:
        built.close()
    ours = next(h for h in logging.getLogger().handlers if getattr(h, "_rps", False))
    lines = [ours.format(r) for r in caplog.records if "source-pass-42" in r.getMessage()]

    assert status.status_code == 200
    assert "svc-user:****@mlflow.example" in status.text
    assert lines  # the model manager logged the failure ...
    for text in (status.text, *lines):
        assert "source-pass-42" not in text  # ... and the handler's line is masked
        assert "source-tok" not in text
