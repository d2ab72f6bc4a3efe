"""The dashboard's static files and their routes: the page at `DASHBOARD_PATH`, each asset at
`DASHBOARD_PATH/<name>` (`app.js`, `vendor/uPlot.iife.min.js`, ...).

Decisions:
- **A whitelist read once.** `Dashboard.load()` reads every `.html`/`.js`/`.css` file under `STATIC_DIR`
  whose resolved path stays inside it (a symlink out is skipped) into memory. A request names a key of
  that table or gets the seed-envelope 404: the file system is never touched with a caller's path, so
  `..`, `%2e%2e`, absolute paths and backslashes cannot reach anything else. Other files there (the
  vendor README and LICENSE) are kept with the code, not served.
- **Public.** The page and its assets hold no data and no key; the page asks for a gateway key and
  sends it to `GET /api/ai/analytics` itself (kept in the tab's `sessionStorage`).
- **Headers.** A Content-Security-Policy that allows scripts, styles and fetches from the same origin
  only (no inline script or style, no frames, no form posts), `nosniff`, `no-referrer`, on every answer.
  The page is revalidated on each load (`no-cache`, strong ETag); assets are cached for an hour. A
  matching `If-None-Match` gets a 304.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.api.route_table import no_route

__all__ = [
    "ASSET_CACHE",
    "CONTENT_TYPES",
    "CSP",
    "DASHBOARD_PATH",
    "PAGE_CACHE",
    "SECURITY_HEADERS",
    "STATIC_DIR",
    "Asset",
    "Dashboard",
]

DASHBOARD_PATH = "/api/ai/dashboard"
STATIC_DIR = Path(__file__).resolve().parent / "static"
PAGE = "index.html"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self' data:",  # data: for the empty favicon, so the browser does not ask for /favicon.ico
        "base-uri 'none'",
        "form-action 'none'",  # the key form is handled by script; never submitted (the key in a URL)
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}
PAGE_CACHE = "no-cache"
ASSET_CACHE = "public, max-age=3600"


@dataclass(frozen=True, slots=True)
class Asset:
    name: str
    body: bytes
    content_type: str

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:32] + '"'


def _read(directory: Path) -> dict[str, Asset]:
    root = directory.resolve()
    found: dict[str, Asset] = {}
    for path in sorted(root.rglob("*")):
        content_type = CONTENT_TYPES.get(path.suffix)
        if content_type is None or not path.is_file() or any(p.startswith(".") for p in path.parts):
            continue
        resolved = path.resolve()
        if not resolved.is_relative_to(root):
            continue
        name = path.relative_to(root).as_posix()
        found[name] = Asset(name, resolved.read_bytes(), content_type)
    return found


class Dashboard:
    """The page and its assets, in memory, and the routes that serve them."""

    def __init__(self, page: Asset, assets: dict[str, Asset]) -> None:
        self.page = page
        self.assets = dict(assets)

    @classmethod
    def load(cls, directory: Path = STATIC_DIR) -> Dashboard:
        files = _read(directory)
        page = files.pop(PAGE, None)
        if page is None:
            raise FileNotFoundError(f"the dashboard page {PAGE} is missing from {directory}")
        return cls(page, files)

    def routes(self) -> list[Route]:
        return [
            Route(DASHBOARD_PATH, self._serve_page, methods=["GET"]),
            Route(DASHBOARD_PATH + "/{name:path}", self._serve_asset, methods=["GET"]),
        ]

    async def _serve_page(self, request: Request) -> Response:
        return _answer(request, self.page, PAGE_CACHE)

    async def _serve_asset(self, request: Request) -> Response:
        asset = self.assets.get(str(request.path_params.get("name", "")))
        if asset is None:
            response = no_route(request.url.path, ())
            response.headers.update(SECURITY_HEADERS)
            return response
        return _answer(request, asset, ASSET_CACHE)


def _answer(request: Request, asset: Asset, cache: str) -> Response:
    headers = {**SECURITY_HEADERS, "cache-control": cache, "etag": asset.etag}
    if asset.etag in _etags(request.headers.get("if-none-match", "")):
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.content_type, headers=headers)


def _etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}
