"""Credentials in URLs are masked wherever settings are shown (SPEC §9, §11)."""

from __future__ import annotations

import pytest

from rps.settings import load_settings, mask_secrets, mask_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        # user and password
        (
            "postgresql+psycopg://rps:db-pass@db:5432/rps",
            "postgresql+psycopg://rps:****@db:5432/rps",
        ),
        ("postgresql://rps:p%40ss%3Aword@db/rps", "postgresql://rps:****@db/rps"),
        ("postgresql://user%40corp:secret@db/rps", "postgresql://user%40corp:****@db/rps"),
        ("mysql://rps:@db/rps", "mysql://rps:****@db/rps"),
        ("http://u:pw@[::1]:8080/x", "http://u:****@[::1]:8080/x"),
        # a raw "@", "/" or "?" in the password (SQLAlchemy reads up to the last "@")
        ("postgresql://rps:p@ss@db/rps", "postgresql://rps:****@db/rps"),
        ("postgresql://rps:pa/ss@db/rps", "postgresql://rps:****@db/rps"),
        ("postgresql://rps:pa?ss@db/rps", "postgresql://rps:****@db/rps"),
        # a token alone before the host
        ("https://secrettoken123@github.com/org/repo.git", "https://****@github.com/org/repo.git"),
        # secret query and fragment parameters, whatever their case
        ("https://h/p?token=hunter2&page=2", "https://h/p?token=****&page=2"),
        ("https://h/p?page=2&access_token=abc", "https://h/p?page=2&access_token=****"),
        (
            "postgresql://rps@db/rps?sslmode=require&password=x1",
            "postgresql://****@db/rps?sslmode=require&password=****",
        ),
        (
            "https://b.s3.example/k?X-Amz-Algorithm=AWS4&X-Amz-Credential=AKIA%2F1&"
            "X-Amz-Signature=abc&X-Amz-Security-Token=t",
            "https://b.s3.example/k?X-Amz-Algorithm=AWS4&X-Amz-Credential=****&"
            "X-Amz-Signature=****&X-Amz-Security-Token=****",
        ),
        ("https://h/?Password=1&PWD=2", "https://h/?Password=****&PWD=****"),
        ("https://h/?api-key=1&apikey=2&key=3", "https://h/?api-key=****&apikey=****&key=****"),
        ("https://acct.blob.example/c?sv=1&sig=abc", "https://acct.blob.example/c?sv=1&sig=****"),
        (
            "https://h/?client_secret=s&access_key=a",
            "https://h/?client_secret=****&access_key=****",
        ),
        ("https://h/?pass%77ord=x", "https://h/?pass%77ord=****"),
        ("https://h/cb#access_token=abc&state=1", "https://h/cb#access_token=****&state=1"),
        # key/value DSNs
        (
            "host=db user=rps password=hunter2 dbname=rps",
            "host=db user=rps password=**** dbname=rps",
        ),
        ("host=db password='two words' dbname=rps", "host=db password=**** dbname=rps"),
    ],
)
def test_credentials_are_masked_in_every_form(url, shown):
    assert mask_url(url) == shown


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////home/me/data/rps.db",
        "sqlite:////srv/u@corp/rps.db",  # an "@" in a path is not a credential
        "file:///tmp/model-cache",
        "http://minio:9000",
        "s3://rps-models/serving",
        "https://mlflow.example/api?experiment=rps-bot&page=2",
        "postgresql+psycopg://db:5432/rps",
        "",
        "not a url",
    ],
)
def test_urls_without_credentials_are_left_as_they_are(url):
    assert mask_url(url) == url


def test_urls_inside_free_text_are_masked():
    text = (
        "could not reach postgresql://rps:db-pass@db/rps (timeout); cache "
        "'https://ghp_tok3n@git.example/x?token=t2', dsn password=pw3"
    )

    masked = mask_secrets(text)

    for secret in ("db-pass", "ghp_tok3n", "t2'", "pw3"):
        assert secret not in masked
    assert "postgresql://rps:****@db/rps (timeout)" in masked


def test_the_settings_dump_masks_every_url_setting(tmp_path):
    settings = load_settings(
        DATA_PATH=tmp_path,
        DATABASE_URL="postgresql+psycopg://rps:db-pass@db:5432/rps?password=db-pass-2",
        MLFLOW_TRACKING_URI="https://mlflow-token@mlflow.example/?token=ml-tok",
        MODEL_CACHE_URI="s3://models/serving?X-Amz-Signature=cache-sig",
        MINIO_ENDPOINT="http://minio-user:minio-pass@minio:9000",
        APP_URL="http://admin:app-pass@app:8000",
        CORS_ORIGINS="https://a.example,https://cors-user:cors-pass@b.example",
    )

    shown = repr(settings.masked())

    for secret in (
        "db-pass",
        "mlflow-token",
        "ml-tok",
        "cache-sig",
        "minio-pass",
        "app-pass",
        "cors-pass",
    ):
        assert secret not in shown
    assert settings.masked()["MINIO_ENDPOINT"] == "http://minio-user:****@minio:9000"
    assert settings.masked()["CORS_ORIGINS"] == "https://a.example,https://cors-user:****@b.example"
