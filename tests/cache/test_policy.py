"""The cache policy table: enabled, Cache-Control, temperature, n, the force header, and the reply header."""

from __future__ import annotations

import pytest

from shared.cache.policy import CACHE_HEADER, CacheDecision, CacheStatus, cache_decision, header_value
from shared.errors import RequestError
from shared.unified import ChatRequest, Message

BASE = ChatRequest(model="m", messages=(Message(role="user", content="hi"),))


def request(temperature: float | None = None, n: int | None = None) -> ChatRequest:
    return ChatRequest(model="m", messages=BASE.messages, temperature=temperature, n=n)


FORCE = {CACHE_HEADER: "force"}

# (request, headers, enabled) -> (lookup, store, reason)
TABLE: list[tuple[str, ChatRequest, dict[str, str], bool, tuple[bool, bool, str]]] = [
    ("plain", BASE, {}, True, (True, True, "cacheable")),
    ("disabled", BASE, {}, False, (False, False, "disabled")),
    ("disabled beats force", BASE, FORCE, False, (False, False, "disabled")),
    ("no-store", BASE, {"cache-control": "no-store"}, True, (False, False, "no-store")),
    ("no-cache refreshes", BASE, {"cache-control": "no-cache"}, True, (False, True, "no-cache")),
    ("both: no-store wins", BASE, {"cache-control": "no-cache, no-store"}, True, (False, False, "no-store")),
    ("malformed directive counts", BASE, {"Cache-Control": " No-Store ; x"}, True, (False, False, "no-store")),
    ("no-store as a word only", BASE, {"cache-control": "no-stored, x-no-store"}, True, (True, True, "cacheable")),
    ("directive case", BASE, {"Cache-Control": "max-age=0,  NO-STORE"}, True, (False, False, "no-store")),
    ("directive with argument", BASE, {"cache-control": 'no-cache="x"'}, True, (False, True, "no-cache")),
    ("other directives", BASE, {"cache-control": "max-age=60, private"}, True, (True, True, "cacheable")),
    ("empty cache-control", BASE, {"cache-control": ""}, True, (True, True, "cacheable")),
    ("temperature at threshold", request(0.5), {}, True, (True, True, "cacheable")),
    ("temperature 0", request(0.0), {}, True, (True, True, "cacheable")),
    ("temperature above", request(0.51), {}, True, (False, False, "temperature")),
    ("temperature above, forced", request(1.5), FORCE, True, (True, True, "forced")),
    ("temperature above, no-store", request(1.5), {"cache-control": "no-store"}, True, (False, False, "no-store")),
    ("temperature above, no-cache", request(1.5), {"cache-control": "no-cache"}, True, (False, False, "temperature")),
    (
        "forced, no-cache",
        request(1.5),
        {**FORCE, "cache-control": "no-cache"},
        True,
        (False, True, "no-cache"),
    ),
    ("forced, no-store", BASE, {**FORCE, "cache-control": "no-store"}, True, (False, False, "no-store")),
    ("n 1", request(n=1), {}, True, (True, True, "cacheable")),
    ("n 2", request(n=2), {}, True, (False, False, "n")),
    ("n 2, forced", request(n=2), FORCE, True, (True, True, "forced")),
    ("force header any case", BASE, {"X-Gateway-Cache": " FORCE "}, True, (True, True, "forced")),
]


@pytest.mark.parametrize(("req", "headers", "enabled", "expected"), [t[1:] for t in TABLE], ids=[t[0] for t in TABLE])
def test_policy_table(
    req: ChatRequest, headers: dict[str, str], enabled: bool, expected: tuple[bool, bool, str]
) -> None:
    assert cache_decision(req, headers, enabled=enabled) == CacheDecision(*expected)


def test_threshold_is_configurable() -> None:
    assert cache_decision(request(0.9), {}, enabled=True, temperature_threshold=1.0).lookup
    assert not cache_decision(request(0.2), {}, enabled=True, temperature_threshold=0.1).lookup
    assert not cache_decision(request(0.1), {}, enabled=True, temperature_threshold=0.0).lookup


@pytest.mark.parametrize("enabled", [True, False])
@pytest.mark.parametrize("value", ["yes", "on", "", "HIT", "force, please"])
def test_a_bad_force_header_is_a_clear_400(value: str, enabled: bool) -> None:
    with pytest.raises(RequestError, match=CACHE_HEADER) as caught:
        cache_decision(BASE, {CACHE_HEADER: value}, enabled=enabled)
    assert caught.value.field == CACHE_HEADER
    assert caught.value.status == 400


@pytest.mark.parametrize(
    ("decision", "hit", "status"),
    [
        (CacheDecision(True, True, "cacheable"), True, "HIT"),
        (CacheDecision(True, True, "cacheable"), False, "MISS"),
        (CacheDecision(True, True, "forced"), True, "HIT"),
        (CacheDecision(False, True, "no-cache"), False, "MISS"),
        (CacheDecision(False, False, "no-store"), False, "BYPASS"),
        (CacheDecision(False, False, "disabled"), False, "BYPASS"),
        (CacheDecision(False, False, "temperature"), False, "BYPASS"),
    ],
)
def test_reply_header(decision: CacheDecision, hit: bool, status: CacheStatus) -> None:
    assert header_value(decision, hit) == status


@pytest.mark.parametrize("decision", [CacheDecision(False, True, "no-cache"), CacheDecision(False, False, "disabled")])
def test_a_hit_without_a_lookup_is_a_bug(decision: CacheDecision) -> None:
    with pytest.raises(ValueError, match="hit"):
        header_value(decision, True)
