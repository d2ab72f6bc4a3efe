"""Error envelopes: the seed's and OpenAI's bodies, the status, and the Retry-After / x-should-retry headers,
for every class of the error tree and every provider error kind."""

from __future__ import annotations

import typing
from typing import Any

import httpx2
import openai
import orjson
import pytest

from shared.api.envelopes import (
    OPENAI_KIND_TYPES,
    openai_error,
    openai_error_event,
    seed_error,
    seed_error_event,
)
from shared.errors import (
    SEED_TYPE,
    AuthError,
    CatalogError,
    ErrorKind,
    GatewayError,
    ProviderError,
    RequestError,
    UnknownModelError,
    UpstreamFailure,
)

KINDS: tuple[ErrorKind, ...] = typing.get_args(ErrorKind)


def provider_error(kind: ErrorKind = "overloaded", **extra: Any) -> ProviderError:
    return ProviderError(f"{kind} happened", kind=kind, provider="anthropic", **extra)


def seed_body(exc: GatewayError) -> dict[str, Any]:
    error: dict[str, Any] = orjson.loads(seed_error(exc)[2])["error"]
    return error


def openai_body(exc: GatewayError) -> dict[str, Any]:
    error: dict[str, Any] = orjson.loads(openai_error(exc)[2])["error"]
    return error


# --- seed envelope -----------------------------------------------------------------------------------


def test_seed_request_error_names_the_field() -> None:
    status, headers, raw = seed_error(RequestError("temperature must be at most 2", field="temperature"))
    assert status == 400
    assert headers == {"content-type": "application/json"}
    assert orjson.loads(raw) == {
        "error": {
            "code": "invalid_request",
            "message": "temperature must be at most 2",
            "type": "invalid_request",
            "provider": None,
            "retryable": False,
            "attempts": 0,
            "field": "temperature",
        }
    }


def test_seed_413_keeps_its_status() -> None:
    assert seed_error(RequestError("body too large", field="body", status=413))[0] == 413


@pytest.mark.parametrize(("status", "code"), [(401, "unauthorized"), (403, "forbidden")])
def test_seed_auth_errors(status: int, code: str) -> None:
    exc = AuthError("no", status=status)
    assert seed_error(exc)[0] == status
    body = seed_body(exc)
    assert (body["code"], body["type"], body["provider"], body["retryable"], body["attempts"]) == (
        code,
        "authentication",
        None,
        False,
        0,
    )
    assert "field" not in body


@pytest.mark.parametrize("kind", KINDS)
def test_seed_upstream_failure_of_every_kind(kind: ErrorKind) -> None:
    failure = UpstreamFailure((provider_error("network_error", retryable=True), provider_error(kind, retryable=False)))
    body = seed_body(failure)
    assert body == {
        "code": kind,
        "message": f"{kind} happened",
        "type": SEED_TYPE[kind],
        "provider": "ANTHROPIC",
        "retryable": False,
        "attempts": 2,
        "failures": [
            {"provider": "ANTHROPIC", "model": None, "kind": "network_error", "status": None},
            {"provider": "ANTHROPIC", "model": None, "kind": kind, "status": None},
        ],
    }


@pytest.mark.parametrize(("provider", "seed"), [("openai", "OPENAI"), ("anthropic", "ANTHROPIC"), ("gemini", "GOOGLE")])
def test_seed_provider_spelling(provider: str, seed: str) -> None:
    exc = ProviderError("x", kind="api_error", provider=provider, status=500, retryable=True)
    assert seed_body(exc)["provider"] == seed
    assert seed_body(exc)["attempts"] == 1


def test_seed_generic_gateway_errors() -> None:
    body = seed_body(GatewayError("every candidate's breaker is open", status=503))
    assert (body["code"], body["type"], body["retryable"], body["attempts"], body["provider"]) == (
        "unavailable",
        "api_error",
        True,
        0,
        None,
    )
    status, _, raw = seed_error(CatalogError("catalog row 'x' is bad", row="x"))
    assert status == 500
    assert orjson.loads(raw)["error"]["code"] == "internal_error"


# --- status and headers (both envelopes) ----------------------------------------------------------------

render = pytest.mark.parametrize("envelope", [seed_error, openai_error], ids=["seed", "openai"])


@render
def test_rate_limited_everywhere_is_429_with_retry_after_rounded_up(envelope: Any) -> None:
    attempts = (provider_error("rate_limit", retry_after=0.4), provider_error("rate_limit", retry_after=2.2))
    status, headers, _ = envelope(UpstreamFailure(attempts))
    assert status == 429
    assert headers == {"content-type": "application/json", "retry-after": "3", "x-should-retry": "false"}


@render
def test_one_attempt_has_no_should_retry_header(envelope: Any) -> None:
    status, headers, _ = envelope(UpstreamFailure((provider_error("rate_limit", retry_after=5),)))
    assert (status, headers) == (429, {"content-type": "application/json", "retry-after": "5"})


@render
def test_retry_after_only_on_429_and_503(envelope: Any) -> None:
    status, headers, _ = envelope(UpstreamFailure((provider_error("overloaded", retry_after=5),)))
    assert status == 502
    assert "retry-after" not in headers


@render
def test_rate_limit_without_a_known_wait_still_says_when_to_come_back(envelope: Any) -> None:
    # Architecture, Errors: 429 + Retry-After when every attempt was rate-limited; no provider hint -> 1 s.
    status, headers, _ = envelope(UpstreamFailure((provider_error("rate_limit"),)))
    assert status == 429
    assert headers["retry-after"] == "1"


@render
def test_503_with_a_known_wait(envelope: Any) -> None:
    class AllOpen(GatewayError):
        status = 503

        def __init__(self) -> None:
            super().__init__("every candidate's breaker is open")
            self.retry_after = 12.01

    status, headers, _ = envelope(AllOpen())
    assert (status, headers["retry-after"]) == (503, "13")


@render
@pytest.mark.parametrize(
    ("kinds", "caller_credential", "status"),
    [
        (("invalid_request",), False, 400),
        (("context_length",), False, 400),
        (("content_filter",), False, 400),
        (("not_found",), False, 404),
        (("authentication",), True, 401),
        (("permission",), True, 403),
        (("authentication",), False, 502),
        (("timeout",), False, 504),
        (("overloaded", "api_error"), False, 502),
    ],
)
def test_status_is_the_failures_own(
    envelope: Any, kinds: tuple[ErrorKind, ...], caller_credential: bool, status: int
) -> None:
    failure = UpstreamFailure(tuple(provider_error(k) for k in kinds), caller_credential=caller_credential)
    assert envelope(failure)[0] == status == failure.status


@render
def test_a_bare_provider_error_maps_like_one_attempt(envelope: Any) -> None:
    # A platform key's 401 is the gateway's problem, not the caller's.
    exc = ProviderError("bad key", kind="authentication", provider="openai", status=401)
    assert envelope(exc)[0] == 502


# --- OpenAI envelope ---------------------------------------------------------------------------------------


def test_openai_request_error() -> None:
    status, headers, raw = openai_error(RequestError("messages[0].role must be ...", field="messages[0].role"))
    assert (status, headers) == (400, {"content-type": "application/json"})
    assert orjson.loads(raw) == {
        "error": {
            "message": "messages[0].role must be ...",
            "type": "invalid_request_error",
            "param": "messages[0].role",
            "code": None,
        }
    }


def test_openai_unknown_model() -> None:
    body = openai_body(UnknownModelError("llama-9"))
    assert (body["type"], body["param"], body["code"]) == ("invalid_request_error", "model", "model_not_found")


@pytest.mark.parametrize(
    ("status", "kind", "code"),
    [(401, "authentication_error", "invalid_api_key"), (403, "permission_error", "forbidden")],
)
def test_openai_auth_errors(status: int, kind: str, code: str) -> None:
    body = openai_body(AuthError("no", status=status))
    assert (body["type"], body["code"], body["param"]) == (kind, code, None)


def test_every_kind_has_an_openai_type() -> None:
    assert set(OPENAI_KIND_TYPES) == set(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_openai_upstream_failure_of_every_kind(kind: ErrorKind) -> None:
    body = openai_body(UpstreamFailure((provider_error(kind, param="messages"),)))
    assert body == {
        "message": f"{kind} happened",
        "type": OPENAI_KIND_TYPES[kind][0],
        "param": "messages",
        "code": OPENAI_KIND_TYPES[kind][1],
        "failures": [{"provider": "anthropic", "model": None, "kind": kind, "status": None}],
    }


@pytest.mark.parametrize(
    ("kind", "openai_type", "code"),
    [
        ("rate_limit", "rate_limit_error", "rate_limit_exceeded"),
        ("context_length", "invalid_request_error", "context_length_exceeded"),
        ("authentication", "authentication_error", "invalid_api_key"),
        ("permission", "permission_error", "permission_denied"),
        ("timeout", "api_error", "timeout"),
    ],
)
def test_openai_words_for_kinds(kind: ErrorKind, openai_type: str, code: str) -> None:
    assert OPENAI_KIND_TYPES[kind] == (openai_type, code)


def test_openai_generic_gateway_error() -> None:
    body = openai_body(GatewayError("boom"))
    assert (body["type"], body["code"], body["param"]) == ("server_error", "internal_error", None)


# --- in-stream events are the same bodies ------------------------------------------------------------------


@pytest.mark.parametrize(
    "exc",
    [
        provider_error("overloaded", in_stream=True, retryable=True),
        UpstreamFailure((provider_error("timeout"), provider_error("network_error"))),
        RequestError("x", field="stop"),
    ],
)
def test_events_equal_the_reply_bodies(exc: GatewayError) -> None:
    assert seed_error_event(exc) == orjson.loads(seed_error(exc)[2])
    assert openai_error_event(exc) == orjson.loads(openai_error(exc)[2])


def test_seed_event_takes_the_streams_attempt_count() -> None:
    assert seed_error_event(provider_error(in_stream=True), attempts=3)["error"]["attempts"] == 3
    assert seed_error_event(GatewayError("cut", status=502), attempts=2)["error"]["attempts"] == 2


def test_seed_event_keeps_the_count_an_upstream_failure_lists() -> None:
    failure = UpstreamFailure((provider_error("timeout"), provider_error("overloaded")))
    assert seed_error_event(failure, attempts=7)["error"]["attempts"] == 2


# --- the official SDK reads the OpenAI envelope ---------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "sdk_error"),
    [
        (RequestError("bad", field="temperature"), openai.BadRequestError),
        (AuthError("who?"), openai.AuthenticationError),
        (AuthError("not you", status=403), openai.PermissionDeniedError),
        (UpstreamFailure((provider_error("rate_limit", retry_after=1),)), openai.RateLimitError),
        (UpstreamFailure((provider_error("overloaded"),)), openai.InternalServerError),
    ],
)
def test_the_openai_sdk_raises_its_usual_exception(exc: GatewayError, sdk_error: type[Exception]) -> None:
    status, headers, raw = openai_error(exc)

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(status, headers=headers, content=raw)

    client = openai.OpenAI(
        api_key="gw-test",
        base_url="http://gateway.test/v1",
        max_retries=0,
        http_client=openai.DefaultHttpxClient(transport=httpx2.MockTransport(handler)),
    )
    with pytest.raises(sdk_error) as info:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert isinstance(info.value, openai.APIStatusError)
    assert info.value.body == orjson.loads(raw)["error"]
    assert info.value.param == orjson.loads(raw)["error"]["param"]
    client.close()


def test_a_failure_lists_every_attempt_with_its_model_on_both_routes_and_no_message() -> None:
    first, last = (
        provider_error("overloaded", status=529),
        ProviderError("secret detail", kind="rate_limit", provider="gemini", status=429),
    )
    first.model, last.model = "claude-haiku-4-5-20251001", "gemini-2.5-flash"
    failure = UpstreamFailure((first, last))
    assert seed_body(failure)["failures"] == [
        {"provider": "ANTHROPIC", "model": "claude-haiku-4-5-20251001", "kind": "overloaded", "status": 529},
        {"provider": "GOOGLE", "model": "gemini-2.5-flash", "kind": "rate_limit", "status": 429},
    ]
    assert openai_body(failure)["failures"] == [
        {"provider": "anthropic", "model": "claude-haiku-4-5-20251001", "kind": "overloaded", "status": 529},
        {"provider": "gemini", "model": "gemini-2.5-flash", "kind": "rate_limit", "status": 429},
    ]
    assert "failures" not in seed_body(first)
    assert "failures" not in openai_body(first)
