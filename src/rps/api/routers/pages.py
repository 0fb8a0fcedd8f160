"""The web UI (SPEC §12): the play, debug and ops pages, their static files, and offline /docs.

Static files are served under ``/static/…?v=<asset version>``: a request carrying the current
version may be cached for a year (the URL changes whenever a file does); anything else must be
revalidated. HTML pages are always revalidated, with the asset version as their ETag, so a deploy
reaches every browser on its next load. Nothing is fetched from another host: the Swagger UI
behind /docs ships with the ``swagger-ui-bundle-v2`` package.
"""

from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Final

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import Response

from rps.api.responses import FastJSONResponse
from rps.api.routers.misc import package_version
from rps.domain.errors import echoed
from rps.features.names import FEATURE_NAMES
from rps.settings import Settings, SettingsError
from rps.web import TEMPLATES_DIR, fingerprint, static_files

router = APIRouter(include_in_schema=False)

IMMUTABLE: Final = "public, max-age=31536000, immutable"
REVALIDATE: Final = "no-cache"
# Safe unescaped in a URL query and inside an ETag's quotes.
_VERSION_PATTERN: Final = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# The Swagger UI files /docs needs, below /static/swagger-ui/.
_SWAGGER_FILES: Final = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png")
_TEXT_TYPES: Final = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    etag: str  # quoted, strong


@dataclass(frozen=True)
class Page:
    body: bytes
    csp: str


@dataclass(frozen=True)
class Site:
    """Everything the UI routes serve, rendered once per process."""

    asset_version: str
    pages: dict[str, Page]
    assets: dict[str, Asset]

    @property
    def etag(self) -> str:
        return f'"{self.asset_version}"'


def resolve_asset_version(configured: str | None, swagger_dir: Path) -> str:
    """``ASSET_VERSION`` if set, else the package version plus a hash of the UI's files."""
    if configured:
        if not _VERSION_PATTERN.match(configured):
            raise SettingsError(
                "invalid configuration: ASSET_VERSION: use 1-64 letters, digits, '.', '_' or "
                f"'-' (got {configured!r})"
            )
        return configured
    version = package_version()
    # A local version label ("0.1.0+g1a2b") would turn into a space in a query string.
    readable = re.sub(r"[^A-Za-z0-9._-]", "-", version)
    return f"{readable}-{fingerprint(version, swagger_dir.name)}"


def _swagger_dir() -> Path:
    import swagger_ui_bundle

    return Path(str(swagger_ui_bundle.swagger_ui_path))


def _asset(path: Path) -> Asset:
    body = path.read_bytes()
    media_type = _TEXT_TYPES.get(path.suffix) or (
        mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    )
    if media_type.startswith("text/") or media_type == "image/svg+xml":
        media_type += "; charset=utf-8"
    return Asset(body, media_type, f'"{hashlib.sha256(body).hexdigest()[:20]}"')


def _script_hash(source: str) -> str:
    digest = base64.b64encode(hashlib.sha256(source.encode()).digest()).decode()
    return f"'sha256-{digest}'"


def _csp(script_hashes: list[str], *, inline_styles: bool = False) -> str:
    # Defence in depth behind rendering user text with textContent: even injected markup could
    # not run a script or load anything from elsewhere.
    scripts = " ".join(["'self'", *script_hashes])
    styles = "'self' 'unsafe-inline'" if inline_styles else "'self'"
    return (
        f"default-src 'self'; script-src {scripts}; style-src {styles}; "
        "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    )


def _json_for_script(value: object) -> str:
    """JSON that cannot close the <script> element it sits in."""
    return json.dumps(value, separators=(",", ":")).replace("<", "\\u003c")


def _render(template: str, values: dict[str, str]) -> str:
    text = (TEMPLATES_DIR / template).read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    leftover = re.search(r"\{\{\w+\}\}", text)
    if leftover:
        raise RuntimeError(f"template {template} has no value for {leftover.group(0)}")
    return text


def _import_map(version: str, assets: dict[str, Asset]) -> str:
    # The modules import each other by plain relative paths; the import map gives every one of
    # those URLs the version query, so a module is never served from a stale immutable cache.
    imports = {
        f"/static/{name}": f"/static/{name}?v={version}"
        for name in assets
        if name.startswith("js/") and name.endswith(".js")
    }
    return _json_for_script({"imports": imports})


def _ui_page(template: str, version: str, import_map: str, **values: str) -> Page:
    body = _render(template, {"ASSET_VERSION": version, "IMPORT_MAP": import_map, **values})
    return Page(body.encode(), _csp([_script_hash(import_map)]))


def _docs_page(version: str, openapi_url: str) -> Page:
    response = get_swagger_ui_html(
        openapi_url=openapi_url,
        title="RPS MLOps — API",
        swagger_js_url=f"/static/swagger-ui/swagger-ui-bundle.js?v={version}",
        swagger_css_url=f"/static/swagger-ui/swagger-ui.css?v={version}",
        swagger_favicon_url=f"/static/swagger-ui/favicon-32x32.png?v={version}",
    )
    body = bytes(response.body).decode()
    inline = re.findall(r"<script>(.*?)</script>", body, flags=re.DOTALL)
    # Swagger UI sets style attributes from its own markup: allow inline styles on this page.
    return Page(body.encode(), _csp([_script_hash(s) for s in inline], inline_styles=True))


@lru_cache(maxsize=4)
def build_site(configured_version: str | None, openapi_url: str) -> Site:
    """Read the UI's files and render its pages (once per process and configuration)."""
    swagger_dir = _swagger_dir()
    version = resolve_asset_version(configured_version, swagger_dir)
    assets = {name: _asset(path) for name, path in static_files().items()}
    for name in _SWAGGER_FILES:
        assets[f"swagger-ui/{name}"] = _asset(swagger_dir / name)
    import_map = _import_map(version, assets)
    feature_names = _json_for_script(list(FEATURE_NAMES))
    play = {"FEATURE_NAMES": feature_names}
    pages = {
        "play": _ui_page("play.html", version, import_map, TITLE="Play", MODE="play", **play),
        "debug": _ui_page(
            "play.html", version, import_map, TITLE="Play · model internals", MODE="debug", **play
        ),
        "ops": _ui_page("ops.html", version, import_map),
        "docs": _docs_page(version, openapi_url),
    }
    return Site(version, pages, assets)


def install_pages(app: FastAPI, settings: Settings) -> None:
    """Serve the UI from ``app``; a bad ``ASSET_VERSION`` fails here, at start-up."""
    app.state.site = build_site(settings.ASSET_VERSION, app.openapi_url or "/openapi.json")
    app.include_router(router)


def _site(request: Request) -> Site:
    site: Site = request.app.state.site
    return site


def _matches(request: Request, etag: str) -> bool:
    header = request.headers.get("if-none-match")
    if not header:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in tags or etag in tags


def _page(request: Request, name: str) -> Response:
    site = _site(request)
    page = site.pages[name]
    headers = {
        "Cache-Control": REVALIDATE,
        "ETag": site.etag,
        "Content-Security-Policy": page.csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }
    if _matches(request, site.etag):
        return Response(status_code=304, headers=headers)
    return Response(page.body, media_type="text/html; charset=utf-8", headers=headers)


@router.get("/")
async def home(request: Request) -> Response:
    return _page(request, "play")


@router.get("/ui-lite")
async def play_page(request: Request) -> Response:
    return _page(request, "play")


@router.get("/ui-lite-debug")
async def debug_page(request: Request) -> Response:
    return _page(request, "debug")


@router.get("/ops")
async def ops_page(request: Request) -> Response:
    return _page(request, "ops")


@router.get("/docs")
async def docs_page(request: Request) -> Response:
    return _page(request, "docs")


@router.get("/static/{path:path}")
async def static_file(request: Request, path: str) -> Response:
    site = _site(request)
    asset = site.assets.get(path)
    if asset is None:
        return FastJSONResponse({"detail": f"no static file {echoed(path)}"}, status_code=404)
    # Only the current version's URL is immutable: a page from an older deploy asking for a file
    # under its own version gets today's file, which must not be cached under that old URL.
    current = request.query_params.get("v") == site.asset_version
    headers = {
        "Cache-Control": IMMUTABLE if current else REVALIDATE,
        "ETag": asset.etag,
        "X-Content-Type-Options": "nosniff",
    }
    if _matches(request, asset.etag):
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)
