"""The dashboard in a real browser over real analytics: headless Chromium (Debian's `chromium`, driven by its
own `chromium-driver` through Selenium, the driver path given so Selenium Manager never looks for one) opens
`/api/ai/dashboard` on the gateway process that `make run` starts (tests/conformance/conftest.py's
`launch_gateway`: `python -m local` with the simulator behind it and a temporary data dir).

The data is real: a gateway key with the `analytics` and `chat` scopes made with the admin command, usage
events of that key on five earlier days written with the local events sink before the start, then chat
calls through the gateway on all three providers (streams for time to first token, repeats for cache hits,
an unknown model for errors). The test waits until the server's own segments are sealed and counted, types
the key into the page's form, and fails if any chart drew no points or left its canvas without a pixel of a
series' colour; no console errors (a CSP violation is one). The screenshot goes to
test-output/dashboard/dashboard.png. Without Chromium the test skips, naming what is missing; with `CI` set
it fails instead.
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import shutil
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
from selenium.webdriver.support.ui import WebDriverWait

from local.admin import main as admin
from shared.events.local_sink import LocalSegmentSink
from shared.events.schema import UsageEvent
from tests.conformance.conftest import Gateway, launch_gateway

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-output" / "dashboard"
TENANT = "dashboard-test"
CHARTS = ["chart-cost", "chart-requests", "chart-latency", "chart-cache", "chart-projection"]
MODELS = ["gpt-4o-mini", "claude-haiku-4-5", "gemini-2.5-flash"]
EARLIER = {"OPENAI": "gpt-4o-mini", "ANTHROPIC": "claude-haiku-4-5-20251001", "GOOGLE": "gemini-2.5-flash"}
_WAIT = 40.0
KEY_ITEM = "ai-gateway.dashboard.key"  # app.js's sessionStorage item


def _browser_paths() -> tuple[str, str]:
    chromium = shutil.which("chromium")
    driver = shutil.which("chromedriver")
    missing = [name for name, path in (("chromium", chromium), ("chromium-driver", driver)) if path is None]
    if missing:
        reason = f"the dashboard browser test needs {' and '.join(missing)} (apt-get install chromium chromium-driver)"
        if os.environ.get("CI"):
            pytest.fail(reason + "; CI is set, so this is a failure, not a skip")
        pytest.skip(reason)
    assert chromium is not None
    assert driver is not None
    return chromium, driver


@pytest.fixture(scope="module")
def browser_paths() -> tuple[str, str]:
    return _browser_paths()


# --- real data ------------------------------------------------------------------------------------


def _create_key(data_dir: Path) -> tuple[str, str]:
    out = io.StringIO()
    argv = ["keys", "create", "--tenant", TENANT, "--scope", "analytics", "--scope", "chat", "--name", "dashboard"]
    assert admin(argv, {"GATEWAY_DATA_DIR": str(data_dir)}, out=out) == 0
    key_id = re.search(r"^key_id: (gk_[a-z2-7]{12})$", out.getvalue(), re.M)
    key = re.search(r"^key \(shown once, stored only as its hash\): (gw_\S+)$", out.getvalue(), re.M)
    assert key_id is not None
    assert key is not None
    return key_id.group(1), key.group(1)


def _earlier_events(key_id: str, now: datetime) -> list[UsageEvent]:
    """A few requests a day on each of the five days before today, growing, on all three providers."""
    events: list[UsageEvent] = []
    for back in range(5, 0, -1):
        day = (now - timedelta(days=back)).replace(hour=12, minute=0, second=0, microsecond=0)
        for n, (provider, model) in enumerate(EARLIER.items()):
            for i in range(2 + (5 - back)):
                common: dict[str, Any] = {
                    "ts": day + timedelta(minutes=10 * n + i),
                    "request_id": f"earlier-{back}-{provider}-{i}",
                    "tenant": TENANT,
                    "key_id": key_id,
                    "route": "openai",
                    "model_requested": model,
                    "latency_ms": 300 + 40 * n + 25 * i,
                    "unpriced": False,
                }
                if i == 3:  # one error a day on the busier days
                    events.append(
                        UsageEvent.model_validate(
                            {
                                **common,
                                "status": "error",
                                "http_status": 429,
                                "error_kind": "rate_limit",
                                "provider": provider,
                                "model": model,
                                "attempts": 1,
                                "cost_micros": 0,
                                "credential_id": "platform:test",
                            }
                        )
                    )
                    continue
                events.append(
                    UsageEvent.model_validate(
                        {
                            **common,
                            "status": "ok",
                            "http_status": 200,
                            "provider": provider,
                            "model": model,
                            "attempts": 1,
                            "input_tokens": 1200 + 100 * i,
                            "output_tokens": 300 + 50 * i,
                            "cost_micros": 600 + 150 * n + 100 * (5 - back) + 20 * i,
                            "stream": i % 2 == 1,
                            "ttft_ms": 120 + 30 * n if i % 2 == 1 else None,
                            "credential_id": "platform:test",
                        }
                    )
                )
    return events


async def _write_events(directory: Path, events: list[UsageEvent]) -> None:
    sink = LocalSegmentSink(directory)
    for event in events:
        await sink.publish(event)
    await sink.close()  # sealed: visible to the analytics reader


def _chat(client: httpx2.Client, model: str, text: str, *, stream: bool = False) -> int:
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": 50}
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    reply = client.post("/v1/chat/completions", json=body)
    if stream:
        assert reply.status_code == 200, reply.text
        assert "data: [DONE]" in reply.text
    return reply.status_code


def _today_requests(client: httpx2.Client) -> int:
    reply = client.get("/api/ai/analytics", params={"days": "7", "detailed": "true"})
    assert reply.status_code == 200, reply.text
    today = datetime.now(UTC).date().isoformat()
    return sum(day["requests"] for day in reply.json()["usage"]["byDay"] if day["date"] == today)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gateway, str]]:
    """The gateway with real analytics for a fresh key: earlier days from the sink, today from chat calls."""
    tmp = tmp_path_factory.mktemp("dashboard")
    key_id, key = _create_key(tmp / "data")
    asyncio.run(_write_events(tmp / "data" / "events", _earlier_events(key_id, datetime.now(UTC))))
    with launch_gateway(tmp, CACHE_ENABLED="true") as gateway:
        headers = {"authorization": f"Bearer {key}"}
        with httpx2.Client(base_url=gateway.url, headers=headers, timeout=15.0) as client:
            sent = 0
            for model in MODELS:
                for text in ("What is a gateway?", "Say hello.", "What is a gateway?"):  # the repeat: a cache hit
                    assert _chat(client, model, text) == 200
                    sent += 1
                _chat(client, model, f"Stream a haiku about {model}.", stream=True)
                sent += 1
            assert _chat(client, "no-such-model-anywhere", "Hello") == 400
            sent += 1
            # The server seals its open segment once it is 10 s old (shared.events.local_sink).
            deadline = time.monotonic() + _WAIT
            while _today_requests(client) < sent:
                assert time.monotonic() < deadline, f"today's {sent} requests were not in the analytics in time"
                time.sleep(0.5)
        yield gateway, key


# --- the browser ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def driver(browser_paths: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, chromedriver = browser_paths
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",  # root in a container has no user namespace sandbox
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1600",
        "--force-device-scale-factor=1",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    try:
        yield browser
    finally:
        browser.quit()


def _wait_state(browser: Any, *states: str) -> str:
    WebDriverWait(browser, 20).until(lambda b: b.find_element("tag name", "body").get_attribute("data-state") in states)
    state: str = browser.find_element("tag name", "body").get_attribute("data-state")
    return state


def _message(browser: Any) -> str:
    text: str = browser.find_element("id", "message").text
    return text


def _enter_key(browser: Any, key: str) -> None:
    field = browser.find_element("id", "key")
    field.clear()
    field.send_keys(key)
    browser.find_element("id", "submit").click()


# Counts the canvas pixels within a small distance of any of the chart's series colours (lines, dots, bars).
_SERIES_PIXELS = """
const chart = document.getElementById(arguments[0]);
const canvas = chart.querySelector("canvas");
if (!canvas) return -1;
const rgb = (hex) => [1, 3, 5].map((i) => parseInt(hex.substr(i, 2), 16));
const colors = JSON.parse(chart.dataset.colors || "[]").map(rgb);
const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
let found = 0;
for (let p = 0; p < pixels.length; p += 4) {
  if (pixels[p + 3] < 200) continue;
  for (const [r, g, b] of colors) {
    if (Math.abs(pixels[p] - r) + Math.abs(pixels[p + 1] - g) + Math.abs(pixels[p + 2] - b) < 24) { found++; break; }
  }
}
return found;
"""


def test_the_dashboard_draws_real_analytics(driver: Any, served: tuple[Gateway, str]) -> None:
    gateway, key = served
    driver.get(gateway.url + "/api/ai/dashboard")
    assert _wait_state(driver, "need-key") == "need-key"
    assert key not in driver.page_source

    _enter_key(driver, "gw_not-a-real-key-" + "x" * 30)
    assert _wait_state(driver, "need-key", "error") == "need-key"
    assert "401" in _message(driver)

    _enter_key(driver, key)
    state = _wait_state(driver, "ready", "error", "need-key")
    assert state == "ready", _message(driver)
    assert driver.execute_script(f"return sessionStorage.getItem('{KEY_ITEM}')") == key
    assert driver.find_element("id", "key").get_attribute("value") == ""

    problems = []
    for chart in CHARTS:
        element = driver.find_element("id", chart)
        points = int(element.get_attribute("data-points") or "0")
        pixels = driver.execute_script(_SERIES_PIXELS, chart)
        if points <= 0 or pixels < 20:
            problems.append(f"{chart}: {points} points, {pixels} pixels of its series colours")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / "dashboard.png"))
    assert problems == []
    tiles = driver.find_element("id", "tiles").text
    assert "Requests" in tiles
    assert "Projected cost" in tiles
    assert "no data yet" not in tiles

    # Another period: the same charts from the 7-day report.
    driver.find_element("css selector", "#days option[value='7']").click()
    WebDriverWait(driver, 20).until(lambda b: b.find_element("id", "period").text.startswith("7 UTC days"))
    assert _wait_state(driver, "ready", "error") == "ready"
    assert all(int(driver.find_element("id", c).get_attribute("data-points") or "0") > 0 for c in CHARTS)

    errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    # The one expected: the console's note of the deliberate 401 above.
    assert [e for e in errors if "401" not in e["message"]] == []

    driver.find_element("id", "forget").click()
    assert _wait_state(driver, "need-key") == "need-key"
    assert driver.execute_script(f"return sessionStorage.getItem('{KEY_ITEM}')") is None
    assert driver.find_element("id", "report").is_displayed() is False


def test_no_key_or_a_key_without_the_scope_asks_again(driver: Any, served: tuple[Gateway, str]) -> None:
    gateway, _ = served
    out = io.StringIO()
    argv = ["keys", "create", "--tenant", TENANT, "--scope", "chat"]
    assert admin(argv, {"GATEWAY_DATA_DIR": str(gateway.data_dir)}, out=out) == 0
    chat_only = re.search(r"^key \(shown once, stored only as its hash\): (gw_\S+)$", out.getvalue(), re.M)
    assert chat_only is not None
    driver.get(gateway.url + "/api/ai/dashboard")
    _wait_state(driver, "need-key")
    _enter_key(driver, chat_only.group(1))
    assert _wait_state(driver, "need-key", "error", "ready") == "need-key"
    assert "403" in _message(driver)
    assert driver.execute_script(f"return sessionStorage.getItem('{KEY_ITEM}')") is None


def _raw_get(url: str, target: str) -> tuple[int, bytes]:
    """A request line sent exactly as written (an HTTP client would normalize the dot segments away)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


def test_traversal_over_the_wire_is_a_404(served: tuple[Gateway, str]) -> None:
    gateway, _ = served
    status, body = _raw_get(gateway.url, "/api/ai/dashboard/app.js")
    assert status == 200
    assert b"sessionStorage" in body
    for target in (
        "/api/ai/dashboard/../../settings.py",
        "/api/ai/dashboard/%2e%2e/%2e%2e/settings.py",
        "/api/ai/dashboard/%2E%2E%2F%2E%2E%2Fsettings.py",
        "/api/ai/dashboard/..%2fassets.py",
        "/api/ai/dashboard/vendor/..%2f..%2fassets.py",
        "/api/ai/dashboard/%2fetc%2fpasswd",
    ):
        status, body = _raw_get(gateway.url, target)
        assert status == 404, target
        assert b'"error"' in body
        assert b"import" not in body
