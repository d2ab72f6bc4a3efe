"""The `/_sim` admin API: statistics with fingerprints only, defaults, per-key rules, reset, layering."""

from __future__ import annotations

import hashlib
import logging

import httpx2
import pytest

from local.simulator.logs import install_log_filters
from tests.simulator.helpers import anthropic_body, anthropic_post, gemini_body, gemini_post, openai_body, openai_post
from tests.simulator_server import SimulatorAdmin


def _fingerprint(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def test_stats_count_calls_per_route_and_show_only_key_fingerprints(http: httpx2.Client, admin: SimulatorAdmin) -> None:
    secret_a, secret_b = "sk-proj-SECRET-alpha-123456", "sk-ant-SECRET-beta-654321"
    for _ in range(3):
        openai_post(http, openai_body(), key=secret_a)
    anthropic_post(http, anthropic_body(), key=secret_b)
    gemini_post(http, gemini_body(), stream=True, key=secret_a)
    gemini_post(http, gemini_body(), key=None)
    stats = admin.stats()
    assert stats["calls"] == {"anthropic.messages": 1, "gemini.generate": 1, "gemini.stream": 1, "openai.chat": 3}
    assert stats["total"] == 6
    assert stats["statuses"] == {"200": 5, "400": 1}
    assert stats["key_fingerprints"] == sorted([_fingerprint(secret_a), _fingerprint(secret_b)])
    assert stats["calls_by_key"] == {_fingerprint(secret_a): 4, _fingerprint(secret_b): 1}
    raw = http.get("/_sim/stats").text + http.get("/_sim/keys").text
    assert "SECRET" not in raw


def test_key_rules_fail_one_credential_and_not_another(http: httpx2.Client, admin: SimulatorAdmin) -> None:
    fingerprint = admin.add_key_rule("sk-revoked", status=401)
    assert fingerprint == _fingerprint("sk-revoked")
    admin.add_key_rule("sk-limited", status=429, retry_after=3)
    assert openai_post(http, openai_body(), key="sk-revoked").status_code == 401
    limited = openai_post(http, openai_body(), key="sk-limited")
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "3")
    assert openai_post(http, openai_body(), key="sk-fine").status_code == 200
    # The rule follows the key to every provider, each answering in its own format.
    assert anthropic_post(http, anthropic_body(), key="sk-revoked").json()["error"]["type"] == "authentication_error"
    gemini = gemini_post(http, gemini_body(), key="sk-revoked")
    assert (gemini.status_code, gemini.json()["error"]["status"]) == (401, "UNAUTHENTICATED")
    rules = http.get("/_sim/keys").json()["rules"]
    assert rules == {_fingerprint("sk-limited"): {"status": 429, "retry_after": 3.0}, fingerprint: {"status": 401}}


def test_key_rule_faults_come_before_body_validation(http: httpx2.Client, admin: SimulatorAdmin) -> None:
    admin.add_key_rule("sk-limited", kind="rate_limit")
    assert openai_post(http, {"model": "gpt-4o"}, key="sk-limited").status_code == 429
    assert openai_post(http, {"model": "gpt-4o"}, key="sk-other").status_code == 400


def test_removing_rules(http: httpx2.Client, admin: SimulatorAdmin) -> None:
    fingerprint = admin.add_key_rule("sk-a", status=500)
    admin.add_key_rule("sk-b", status=500)
    assert http.delete(f"/_sim/keys/{fingerprint}").json() == {"removed": 1}
    assert http.delete(f"/_sim/keys/{fingerprint}").status_code == 404
    assert http.delete("/_sim/keys/not-hex").status_code == 400
    assert openai_post(http, openai_body(), key="sk-a").status_code == 200
    assert openai_post(http, openai_body(), key="sk-b").status_code == 500
    admin.clear_key_rules()
    assert openai_post(http, openai_body(), key="sk-b").status_code == 200


@pytest.mark.parametrize(
    "body",
    [{"status": 429}, {"key": "", "status": 429}, {"key": "k", "status": 200}, {"key": "k", "shape": "round"}, ["k"]],
)
def test_bad_rules_are_refused(http: httpx2.Client, body: object) -> None:
    response = http.post("/_sim/keys", json=body)
    assert response.status_code == 400
    assert "error" in response.json()


def test_defaults_are_layered_under_request_tags_and_key_rules(http: httpx2.Client, admin: SimulatorAdmin) -> None:
    assert admin.set_defaults(chunks=2, latency_ms=0) == {"defaults": {"chunks": 2, "latency_ms": 0}}
    assert http.get("/_sim/defaults").json() == {"defaults": {"chunks": 2, "latency_ms": 0}}

    def content_chunks(text: str, key: str = "sk-x") -> int:
        body = openai_body(text, stream=True)
        response = openai_post(http, body, key=key)
        return response.text.count('"content":') - 1  # minus the role chunk's empty content

    assert content_chunks("hello there") == 2
    assert content_chunks("hello there [sim chunks=5]") == 5
    admin.add_key_rule("sk-rule", chunks=3)
    assert content_chunks("hello there [sim chunks=5]", key="sk-rule") == 3
    assert http.put("/_sim/defaults", json={"chunks": 0}).status_code == 400
    assert http.delete("/_sim/defaults").json() == {"defaults": {}}


def test_default_faults_apply_to_every_request(http: httpx2.Client, admin: SimulatorAdmin) -> None:
    admin.set_defaults(kind="overloaded")
    assert openai_post(http, openai_body()).status_code == 503
    assert anthropic_post(http, anthropic_body()).status_code == 529
    assert gemini_post(http, gemini_body()).status_code == 503


def test_reset_clears_everything(http: httpx2.Client, admin: SimulatorAdmin) -> None:
    admin.set_defaults(status=500)
    admin.add_key_rule("sk-a", status=401)
    openai_post(http, openai_body(), key="sk-a")
    admin.reset()
    assert admin.stats() == {"calls": {}, "total": 0, "statuses": {}, "key_fingerprints": [], "calls_by_key": {}}
    assert http.get("/_sim/keys").json() == {"rules": {}}
    assert openai_post(http, openai_body(), key="sk-a").status_code == 200
    assert http.get("/_sim/health").json() == {"ok": True}


def test_access_log_lines_never_carry_a_query_key() -> None:
    install_log_filters()
    args = (
        "127.0.0.1:5000",
        "POST",
        "/v1beta/models/gemini-2.5-flash:generateContent?key=AIzaSECRET&alt=sse",
        "1.1",
        200,
    )
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d', args, None)
    assert logging.getLogger("uvicorn.access").filter(record)
    assert "SECRET" not in record.getMessage()
    assert "?key=REDACTED&alt=sse" in record.getMessage()


def test_a_counted_rule_applies_to_the_next_n_requests_only(http: httpx2.Client, admin: SimulatorAdmin) -> None:
    admin.add_key_rule("sk-flaky", times=2, status=500)
    other = admin.add_key_rule("sk-other", status=503)
    rules = http.get("/_sim/keys").json()["rules"]
    assert rules[other]["status"] == 503
    assert "times" not in rules[other]
    assert [r.get("times") for r in rules.values()].count(2) == 1
    statuses = [openai_post(http, openai_body(), key="sk-flaky").status_code for _ in range(4)]
    assert statuses == [500, 500, 200, 200]
    # Used up: the rule is gone; the uncounted rule of another key stays.
    assert len(http.get("/_sim/keys").json()["rules"]) == 1


def test_times_must_be_a_positive_integer(http: httpx2.Client) -> None:
    for bad in (0, -1, "2", 1.5, True, 10_001):
        reply = http.post("/_sim/keys", json={"key": "sk-x", "times": bad, "status": 500})
        assert reply.status_code == 400, bad
        assert "times" in reply.json()["error"]
