"""The dashboard's routes on AnalyticsApi (shared.dashboard.assets), in process, through both entries (the
ASGI app of the dev server and `dispatch` of the Cloud Function) with hand-made ASGI scopes, so that paths
reach the app exactly as sent (an HTTP client would normalize `..` away): the page and every asset it names
with their content types, security and cache headers, ETag revalidation, a page with no data, no key and
no inline script, traversal attempts and unknown names as seed-envelope 404s, the whitelist loader
(symlinks out, hidden files, other suffixes), and the vendored uPlot matching the hashes its README notes."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from html.parser import HTMLParser
from pathlib import Path

import orjson
import pytest
from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from shared.api.analytics import AnalyticsApi
from shared.api.analytics_deps import AnalyticsDeps
from shared.dashboard import DASHBOARD_PATH, STATIC_DIR, Dashboard
from shared.dashboard.assets import ASSET_CACHE, CSP, PAGE_CACHE

ENTRIES = ["asgi", "dispatch"]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


async def _no_deps() -> AnalyticsDeps:
    raise AssertionError("the dashboard is public: it must not build the analytics deps")


def _app(entry: str) -> App:
    api = AnalyticsApi(_no_deps)
    if entry == "asgi":
        return api.asgi()

    async def function(scope: Scope, receive: Receive, send: Send) -> None:
        response = await api.dispatch(Request(scope, receive))
        await response(scope, receive, send)

    return function


class Reply:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body


async def call(app: App, path: str, method: str = "GET", headers: dict[str, str] | None = None) -> Reply:
    """One request with `path` as the server hands it to the app (already percent-decoded, not normalized)."""
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("utf-8", "surrogateescape"),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = sent[0]
    found = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return Reply(start["status"], found, b"".join(m.get("body", b"") for m in sent[1:]))


class _Page(HTMLParser):
    """What the page loads and whether it carries anything inline."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script":
            self._in_script = True
            if not values.get("src"):
                self.inline.append("a <script> without src")
        if tag == "style":
            self.inline.append("a <style> element")
        for name, value in attrs:
            if name == "style" or name.startswith("on"):
                self.inline.append(f"a {name}= attribute on <{tag}>")
            if name in ("src", "href") and value and value.startswith("/"):
                self.urls.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append("inline script text")


def _page() -> _Page:
    parser = _Page()
    parser.feed((STATIC_DIR / "index.html").read_text())
    return parser


def _security(reply: Reply) -> None:
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["referrer-policy"] == "no-referrer"
    assert reply.headers["content-security-policy"] == CSP


def test_the_policy_allows_only_this_origin() -> None:
    directives = dict(d.split(" ", 1) for d in CSP.split("; "))
    assert directives["default-src"] == "'none'"
    for name in ("script-src", "style-src", "connect-src"):
        assert directives[name] == "'self'"
    assert "unsafe" not in CSP
    assert directives["frame-ancestors"] == "'none'"
    assert directives["form-action"] == "'none'"


@pytest.mark.parametrize("entry", ENTRIES)
async def test_the_page(entry: str) -> None:
    reply = await call(_app(entry), DASHBOARD_PATH)
    assert reply.status == 200
    assert reply.headers["content-type"] == "text/html; charset=utf-8"
    assert reply.headers["cache-control"] == PAGE_CACHE
    assert reply.headers["x-frame-options"] == "DENY"
    _security(reply)
    # Static: byte for byte the file, whoever asks (a key sent along changes nothing, the deps are never built).
    assert reply.body == (STATIC_DIR / "index.html").read_bytes()
    with_key = await call(_app(entry), DASHBOARD_PATH, headers={"authorization": "Bearer gw_" + "a" * 40})
    assert with_key.status == 200
    assert with_key.body == reply.body


def test_the_page_holds_no_data_no_key_and_nothing_inline() -> None:
    page = _page()
    assert page.inline == []
    text = (STATIC_DIR / "index.html").read_text()
    assert not re.search(r"gw_[A-Za-z0-9_-]{20,}|gk_[a-z2-7]{12}|Bearer ", text)
    assert not re.search(r"\d+\.\d{6}", text)  # no USD amounts
    for script in ("app.js",):
        source = (STATIC_DIR / script).read_text()
        assert "innerHTML" not in source
        assert "localStorage" not in source  # the key lives in the tab only
        assert "sessionStorage.setItem(KEY" in source


@pytest.mark.parametrize("entry", ENTRIES)
async def test_every_asset_the_page_names(entry: str) -> None:
    app = _app(entry)
    urls = _page().urls
    expected = {
        "/api/ai/dashboard/app.js": "text/javascript; charset=utf-8",
        "/api/ai/dashboard/app.css": "text/css; charset=utf-8",
        "/api/ai/dashboard/vendor/uPlot.iife.min.js": "text/javascript; charset=utf-8",
        "/api/ai/dashboard/vendor/uPlot.min.css": "text/css; charset=utf-8",
    }
    assert sorted(urls) == sorted(expected)
    for url, content_type in expected.items():
        reply = await call(app, url)
        assert reply.status == 200, url
        assert reply.headers["content-type"] == content_type
        assert reply.headers["cache-control"] == ASSET_CACHE
        _security(reply)
        assert reply.body == (STATIC_DIR / url.removeprefix(DASHBOARD_PATH + "/")).read_bytes()


@pytest.mark.parametrize("entry", ENTRIES)
async def test_revalidation_and_head(entry: str) -> None:
    app = _app(entry)
    first = await call(app, DASHBOARD_PATH + "/app.js")
    etag = first.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)
    again = await call(app, DASHBOARD_PATH + "/app.js", headers={"if-none-match": f'"other", W/{etag}'})
    assert again.status == 304
    assert again.body == b""
    assert again.headers["etag"] == etag
    stale = await call(app, DASHBOARD_PATH + "/app.js", headers={"if-none-match": '"other"'})
    assert stale.status == 200
    page = await call(app, DASHBOARD_PATH)
    assert (await call(app, DASHBOARD_PATH, headers={"if-none-match": page.headers["etag"]})).status == 304
    assert page.headers["etag"] != etag
    head = await call(app, DASHBOARD_PATH, method="HEAD")
    assert head.status == 200
    assert head.headers["content-type"] == "text/html; charset=utf-8"


@pytest.mark.parametrize("entry", ENTRIES)
async def test_other_methods_are_405(entry: str) -> None:
    app = _app(entry)
    for path in (DASHBOARD_PATH, DASHBOARD_PATH + "/app.js"):
        reply = await call(app, path, method="POST")
        assert reply.status == 405
        assert reply.headers["allow"] == "GET"


UNSERVED = [
    "/api/ai/dashboard/../../settings.py",
    "/api/ai/dashboard/../assets.py",
    "/api/ai/dashboard/../../../shared/settings.py",
    "/api/ai/dashboard/%2e%2e/%2e%2e/settings.py",  # as sent, undecoded
    "/api/ai/dashboard/%2e%2e%2fassets.py",
    "/api/ai/dashboard/..%2f..%2fsettings.py",
    "/api/ai/dashboard/..\\assets.py",
    "/api/ai/dashboard/vendor/../app.js",  # not the name of a file: the table has no dot segments
    "/api/ai/dashboard/./app.js",
    "/api/ai/dashboard//app.js",
    "/api/ai/dashboard//etc/passwd",
    "/api/ai/dashboard/app.js/",
    "/api/ai/dashboard/app.js%00.png",
    "/api/ai/dashboard/app.js\x00",
    "/api/ai/dashboard/APP.JS",
    "/api/ai/dashboard/",
    "/api/ai/dashboard/index.html",  # the page has one address
    "/api/ai/dashboard/assets.py",
    "/api/ai/dashboard/__init__.py",
    "/api/ai/dashboard/vendor/README.md",
    "/api/ai/dashboard/vendor/uPlot.LICENSE",
    "/api/ai/dashboard/vendor",
    "/api/ai/dashboard/static/app.js",
    "/api/ai/dashboard/nope.js",
]


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("path", UNSERVED)
async def test_anything_else_is_a_seed_404(entry: str, path: str) -> None:
    reply = await call(_app(entry), path)
    assert reply.status == 404
    assert reply.headers["content-type"] == "application/json"
    assert reply.headers["x-content-type-options"] == "nosniff"
    error = orjson.loads(reply.body)["error"]
    assert error["message"].startswith("no route for /api/ai/dashboard")
    assert error["retryable"] is False


def test_the_loader_serves_only_what_is_inside(tmp_path: Path) -> None:
    static = tmp_path / "static"
    (static / "vendor").mkdir(parents=True)
    (static / "index.html").write_text("<!doctype html>")
    (static / "a.js").write_text("1")
    (static / "vendor" / "b.css").write_text("p{}")
    (static / "notes.md").write_text("not served")
    (static / ".hidden.js").write_text("not served")
    (static / ".git").mkdir()
    (static / ".git" / "c.js").write_text("not served")
    outside = tmp_path / "secret.js"
    outside.write_text("the secret")
    (static / "link.js").symlink_to(outside)
    (static / "inside.js").symlink_to(static / "a.js")
    loaded = Dashboard.load(static)
    assert loaded.page.body == b"<!doctype html>"
    assert sorted(loaded.assets) == ["a.js", "inside.js", "vendor/b.css"]
    assert loaded.assets["inside.js"].body == b"1"
    assert loaded.assets["vendor/b.css"].content_type == "text/css; charset=utf-8"


def test_a_missing_page_fails_loudly(tmp_path: Path) -> None:
    (tmp_path / "a.js").write_text("1")
    with pytest.raises(FileNotFoundError, match=r"index\.html"):
        Dashboard.load(tmp_path)


def test_the_vendored_chart_library_is_what_its_readme_says() -> None:
    vendor = STATIC_DIR / "vendor"
    assert sorted(p.name for p in vendor.iterdir()) == [
        "README.md",
        "uPlot.LICENSE",
        "uPlot.iife.min.js",
        "uPlot.min.css",
    ]
    readme = (vendor / "README.md").read_text()
    version = re.search(r"^# Vendored: uPlot (\d+\.\d+\.\d+)$", readme, re.M)
    assert version is not None
    assert f"uplot@{version.group(1)}" in readme
    hashes = dict(re.findall(r"^\| `([^`]+)` \| `([0-9a-f]{64})` \|$", readme, re.M))
    assert sorted(hashes) == ["uPlot.LICENSE", "uPlot.iife.min.js", "uPlot.min.css"]
    for name, digest in hashes.items():
        assert hashlib.sha256((vendor / name).read_bytes()).hexdigest() == digest, name
    assert "MIT License" in (vendor / "uPlot.LICENSE").read_text()
    assert (
        f"/*! https://github.com/leeoniya/uPlot (v{version.group(1)}) */"
        in (vendor / "uPlot.iife.min.js").read_text()[:200]
    )
