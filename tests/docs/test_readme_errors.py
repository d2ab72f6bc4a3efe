"""README.md's error-code table against the envelopes: every `code` the seed envelope can carry, with its
seed `type`, its HTTP status and the OpenAI route's `type` / `code` for the same failure.

The failures are derived from the code, not listed by hand: every `GatewayError` subclass in `shared/`
(a new one fails here until it has a sample), every `ErrorKind` as a provider failure (on a platform key,
on the caller's own key, and as the last of mixed failures), and every status the envelopes map to a
generic code. Each goes through `seed_error` and `openai_error`; the README row of its (code, type) must
list that status and that OpenAI pair, and every row must be produced by some failure.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterator
from typing import get_args

import orjson

import shared
from shared.api import envelopes
from shared.errors import (
    AuthError,
    CatalogError,
    ErrorKind,
    GatewayError,
    LimitExceeded,
    NoRouteError,
    ProviderError,
    RequestError,
    UnknownModelError,
    UpstreamFailure,
)
from shared.events.port import EventBufferFull, EventSinkError
from shared.keys_ring import KeyStoreUnavailable
from shared.settings import SettingsError
from shared.vault.errors import DuplicateKeyName, KeyNotFound, KeyServiceDown, KeyUnusable
from tests.docs.readme import README

MARKER = "<!-- error codes table: checked by tests/docs/test_readme_errors.py -->"
_PAIR = re.compile(r"`([a-z_]+)` / `([a-z_]+)`")

Row = tuple[str, str]  # (code, seed type)
Seen = tuple[str, str, int, str, str]  # code, seed type, status, OpenAI type, OpenAI code ("null" for None)


def _table() -> dict[Row, tuple[set[int], set[tuple[str, str]]]]:
    text = README.read_text()
    assert MARKER in text, "README.md lost the error codes table marker"
    lines = text[text.index(MARKER) :].splitlines()[1:]
    rows: dict[Row, tuple[set[int], set[tuple[str, str]]]] = {}
    for line in lines[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        code, kind = cells[0].strip("`"), cells[1].strip("`")
        assert (code, kind) not in rows, f"README error table: ({code}, {kind}) has two rows"
        statuses = {int(s) for s in re.findall(r"\b\d{3}\b", cells[2])}
        rows[(code, kind)] = (statuses, set(_PAIR.findall(cells[3])))
    assert rows, "README error table has no rows"
    return rows


def _provider(kind: ErrorKind, *, retryable: bool = True) -> ProviderError:
    return ProviderError("upstream said no", kind=kind, provider="openai", status=None, retryable=retryable)


def _all_subclasses(cls: type[GatewayError]) -> set[type[GatewayError]]:
    found: set[type[GatewayError]] = set()
    sub: type[GatewayError]
    for sub in cls.__subclasses__():
        found |= {sub} | _all_subclasses(sub)
    return found


def _samples() -> Iterator[GatewayError]:
    yield RequestError("bad body", field="maxTokens")
    for status in (404, 405, 409, 413):
        yield RequestError("refused", field="body", status=status)
    yield RequestError("another tenant", field="scope.tenantId", status=403)  # PUT /api/ai/limits
    yield UnknownModelError("mystery-model")
    yield KeyNotFound("pk_x")
    yield DuplicateKeyName("mine")
    yield AuthError("no key")
    yield AuthError("no scope", status=403)
    yield CatalogError("bad row", row="gpt-x")
    yield SettingsError("ROUTER_MAX_RETRIES", "bad")
    yield NoRouteError("every breaker open", reasons={"openai/gpt-4o": "breaker_open"}, retry_after=3.0)
    scope = {"tenantId": "acme", "userId": None, "keyId": None}
    for code in ("budget_exceeded", "rate_limited"):
        yield LimitExceeded(
            "over", code=code, limit="dailyBudgetUsd", value="1.000000", scope=scope, retry_after=5, resets_at="x"
        )
    yield KeyStoreUnavailable("key store unavailable")
    yield KeyServiceDown()
    yield KeyUnusable("pk_x")
    yield EventSinkError("events down")
    yield EventBufferFull("buffer full")
    for status in (499, 500, *envelopes._STATUS_CODES):
        yield GatewayError("the gateway's own failure", status=status)
    for kind in get_args(ErrorKind):
        yield _provider(kind)
        yield UpstreamFailure((_provider(kind), _provider(kind)))
        yield UpstreamFailure((_provider(kind),), caller_credential=True)
        yield UpstreamFailure((_provider("overloaded"), _provider(kind)))
    yield UpstreamFailure((_provider("rate_limit", retryable=False),))


def _seen(error: GatewayError) -> Seen:
    status, _, seed_body = envelopes.seed_error(error)
    openai_status, _, openai_body = envelopes.openai_error(error)
    assert status == openai_status, f"{error!r}: the routes disagree on the status"
    seed, openai = orjson.loads(seed_body)["error"], orjson.loads(openai_body)["error"]
    return seed["code"], seed["type"], status, openai["type"], openai["code"] or "null"


def _import_shared() -> None:
    """Every module of `shared`, so every GatewayError subclass is defined."""
    for module in pkgutil.walk_packages(shared.__path__, "shared."):
        importlib.import_module(module.name)


def test_every_error_class_has_a_sample() -> None:
    _import_shared()
    sampled = {type(e) for e in _samples()}
    missing = {f"{c.__module__}.{c.__qualname__}" for c in _all_subclasses(GatewayError) - sampled}
    assert not missing, f"new error classes: add them to _samples here and to the README table: {sorted(missing)}"


def test_every_code_is_in_the_readme_table_with_its_statuses() -> None:
    rows = _table()
    problems: list[str] = []
    for error in _samples():
        code, kind, status, openai_type, openai_code = _seen(error)
        row = rows.get((code, kind))
        if row is None:
            problems.append(f"no README row for code {code!r} with type {kind!r} ({error!r})")
            continue
        if status not in row[0]:
            problems.append(f"README row ({code}, {kind}) lacks status {status} ({error!r})")
        if (openai_type, openai_code) not in row[1]:
            problems.append(f"README row ({code}, {kind}) lacks OpenAI `{openai_type}` / `{openai_code}` ({error!r})")
    assert not problems, "\n".join(problems)


def test_every_readme_row_is_produced_by_the_code() -> None:
    seen = [_seen(error) for error in _samples()]
    problems: list[str] = []
    for (code, kind), (statuses, pairs) in _table().items():
        mine = [s for s in seen if s[:2] == (code, kind)]
        if not mine:
            problems.append(f"README row ({code}, {kind}): no failure produces it")
            continue
        problems += [f"({code}, {kind}): status {s} is never produced" for s in statuses - {s[2] for s in mine}]
        problems += [f"({code}, {kind}): OpenAI {p} is never produced" for p in pairs - {s[3:] for s in mine}]
    assert not problems, "\n".join(problems)


def test_the_seed_types_are_the_seeds_five() -> None:
    assert {kind for _, kind in _table()} <= {
        "authentication",
        "rate_limit",
        "invalid_request",
        "api_error",
        "network_error",
    }
