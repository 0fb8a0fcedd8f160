"""The web UI's HTTP side (SPEC §12): cache headers, ETags, versioned assets, offline /docs.

The pages need no database, so these tests use an app whose lifespan never runs.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import rps.web
from rps.api.app import create_app
from rps.api.routers.misc import package_version
from rps.api.routers.pages import IMMUTABLE, resolve_asset_version
from rps.settings import SettingsError, load_settings

PAGES = ["/", "/ui-lite", "/ui-lite-debug", "/ops", "/docs"]


def make_client(tmp_path: Path, **overrides: str) -> TestClient:
    return TestClient(create_app(load_settings(DATA_PATH=tmp_path / "data", **overrides)))


@pytest.fixture
def web(tmp_path: Path) -> TestClient:
    return make_client(tmp_path)


def static_urls(html: str) -> list[str]:
    return re.findall(r"""(?:src|href)="(/static/[^"]+)\"""", html)


def import_map(html: str) -> dict[str, str]:
    found = re.search(r'<script type="importmap">(.*?)</script>', html, flags=re.DOTALL)
    assert found, "the page has no import map"
    imports: dict[str, str] = json.loads(found.group(1))["imports"]
    return imports


@pytest.mark.parametrize("path", PAGES)
def test_pages_are_html_that_must_be_revalidated_with_the_asset_version_as_etag(web, path):
    response = web.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    version = resolve_asset_version(None, _swagger_dir())
    assert response.headers["etag"] == f'"{version}"'
    assert "script-src 'self'" in response.headers["content-security-policy"]


@pytest.mark.parametrize("path", PAGES)
def test_a_browser_holding_the_current_page_gets_304_without_a_body(web, path):
    etag = web.get(path).headers["etag"]
    again = web.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert web.get(path, headers={"If-None-Match": '"an-older-deploy"'}).status_code == 200


@pytest.mark.parametrize("path", PAGES)
def test_every_asset_a_page_links_carries_the_version_and_is_cached_for_a_year(web, path):
    response = web.get(path)
    version = response.headers["etag"].strip('"')
    urls = static_urls(response.text)
    assert urls, f"{path} links no static files"
    for url in urls:
        assert url.endswith(f"?v={version}"), url
        asset = web.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["cache-control"] == IMMUTABLE
        assert asset.content


def test_every_module_import_is_mapped_to_its_versioned_url(web):
    html = web.get("/ui-lite-debug").text
    version = web.get("/").headers["etag"].strip('"')
    mapping = import_map(html)
    for module in ("play", "debug", "dom", "api", "opponents"):
        assert mapping[f"/static/js/{module}.js"] == f"/static/js/{module}.js?v={version}"
    # Each relative import of each module resolves to a mapped (versioned) URL.
    for source in mapping:
        text = web.get(mapping[source]).text
        for imported in re.findall(r'from "\./([\w-]+\.js)"', text):
            assert f"/static/js/{imported}" in mapping, f"{source} imports unmapped {imported}"


def test_the_import_map_is_allowed_by_the_pages_content_security_policy(web):
    import base64
    import hashlib

    response = web.get("/")
    found = re.search(r'<script type="importmap">(.*?)</script>', response.text, re.DOTALL)
    assert found
    digest = base64.b64encode(hashlib.sha256(found.group(1).encode()).digest()).decode()
    assert f"'sha256-{digest}'" in response.headers["content-security-policy"]


def test_static_files_without_the_current_version_must_be_revalidated(web):
    version = web.get("/").headers["etag"].strip('"')
    plain = web.get("/static/css/app.css")
    assert plain.status_code == 200
    assert plain.headers["cache-control"] == "no-cache"
    assert web.get("/static/css/app.css?v=old").headers["cache-control"] == "no-cache"
    current = web.get(f"/static/css/app.css?v={version}")
    assert current.headers["cache-control"] == IMMUTABLE
    assert current.headers["content-type"] == "text/css; charset=utf-8"
    assert web.get("/static/js/play.js").headers["content-type"].startswith("text/javascript")
    revalidated = web.get("/static/css/app.css", headers={"If-None-Match": plain.headers["etag"]})
    assert revalidated.status_code == 304


@pytest.mark.parametrize(
    "path",
    [
        "/static/nope.js",
        "/static/css/..%2f..%2f__init__.py",
        "/static/%2e%2e/__init__.py",
        "/static/",
    ],
)
def test_unknown_static_files_are_404_naming_the_file(web, path):
    response = web.get(path)
    assert response.status_code == 404
    assert "no static file" in response.json()["detail"]


def test_docs_load_swagger_ui_from_this_server_only(web):
    html = web.get("/docs").text
    assert "/static/swagger-ui/swagger-ui-bundle.js?v=" in html
    assert "/openapi.json" in html
    assert not re.search(r"https?://", html), "the docs page must not reference another host"
    bundle = web.get(static_urls(html)[0])
    assert bundle.headers["content-type"].startswith("text/")
    assert web.get("/redoc").status_code == 404, "redoc would load from a CDN: it is disabled"
    assert web.get("/openapi.json").status_code == 200


def test_pages_stay_out_of_the_api_schema(web):
    paths = web.get("/openapi.json").json()["paths"]
    assert not {"/", "/ui-lite", "/ui-lite-debug", "/ops", "/docs"} & set(paths)
    assert not any(p.startswith("/static") for p in paths)


def test_a_configured_asset_version_is_used_for_urls_and_etags(tmp_path):
    client = make_client(tmp_path, ASSET_VERSION="2026.11.29-build7")
    response = client.get("/ui-lite")
    assert response.headers["etag"] == '"2026.11.29-build7"'
    assert all(u.endswith("?v=2026.11.29-build7") for u in static_urls(response.text))


@pytest.mark.parametrize("bad", ["has space", 'quote"d', "x" * 65, "slash/inside", "1.0+local"])
def test_an_invalid_asset_version_stops_the_app_at_start_up_naming_the_variable(tmp_path, bad):
    with pytest.raises(SettingsError, match="ASSET_VERSION"):
        create_app(load_settings(DATA_PATH=tmp_path / "data", ASSET_VERSION=bad))


def test_the_derived_asset_version_is_the_package_version_plus_a_content_hash():
    version = resolve_asset_version(None, _swagger_dir())
    assert version.startswith(package_version() + "-")
    assert re.fullmatch(r"[\w.-]+-[0-9a-f]{12}", version)
    assert version == resolve_asset_version(None, _swagger_dir()), "deterministic"


def test_a_local_package_version_label_still_gives_a_url_safe_asset_version(monkeypatch):
    import rps.api.routers.pages as pages

    monkeypatch.setattr(pages, "package_version", lambda: "0.1.0+g1a2b3c")
    version = resolve_asset_version(None, _swagger_dir())
    assert version.startswith("0.1.0-g1a2b3c-")
    assert re.fullmatch(r"[A-Za-z0-9._-]+", version)


def test_the_content_hash_follows_file_contents_not_modification_times(tmp_path, monkeypatch):
    copy = tmp_path / "web"
    shutil.copytree(rps.web.WEB_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(rps.web, "TEMPLATES_DIR", copy / "templates")
    monkeypatch.setattr(rps.web, "STATIC_DIR", copy / "static")
    before = rps.web.fingerprint("0.1.0")
    stylesheet = copy / "static" / "css" / "app.css"
    stylesheet.touch()
    assert rps.web.fingerprint("0.1.0") == before, "a new mtime alone must not change it"
    stylesheet.write_text(stylesheet.read_text() + "\n/* changed */\n")
    assert rps.web.fingerprint("0.1.0") != before
    assert rps.web.fingerprint("0.2.0") != rps.web.fingerprint("0.1.0")


def _swagger_dir() -> Path:
    import swagger_ui_bundle

    return Path(str(swagger_ui_bundle.swagger_ui_path))
