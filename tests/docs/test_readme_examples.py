"""Every example request of README.md, run in order against the gateway started as `make run` starts it,
its response checked against the documented one (README, "How the examples are checked").

Examples depend on earlier ones (a key is stored, then listed, rotated and deleted by the id captured from
the first reply), so they share one gateway and one capture table, in file order.
"""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest

from tests.conformance.conftest import Gateway, sse_data
from tests.docs.readme import (
    PLACEHOLDER,
    README,
    Block,
    HttpExample,
    blocks,
    http_examples,
    json_body,
    parse_http,
    shape_errors,
)

EXAMPLES = http_examples(blocks(README.read_text()))
DEV_KEY_PLACEHOLDER = "<your gateway key>"
# Headers whose value is compared too (the rest only need to be present: ids, costs, timings vary).
EXACT_HEADERS = frozenset({"retry-after", "x-gateway-cache", "x-should-retry"})


@pytest.fixture(scope="module")
def captures() -> dict[str, Any]:
    return {}


def _substitute(text: str, key: str, captures: dict[str, Any], where: str) -> str:
    text = text.replace(DEV_KEY_PLACEHOLDER, key)

    def value(match: Any) -> str:
        name = match.group(1)
        if name not in captures:
            raise AssertionError(f"{where}: <{name}> was not captured by an earlier example")
        return str(captures[name])

    return PLACEHOLDER.sub(value, text)


def _media_type(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def _check_headers(example: HttpExample, documented: dict[str, str], got: httpx2.Headers) -> list[str]:
    errors: list[str] = []
    for name, value in documented.items():
        if name not in got:
            errors.append(f"header {name} missing")
        elif name == "content-type" and _media_type(got[name]) != _media_type(value):
            errors.append(f"content-type {got[name]!r}, documented {value!r}")
        elif name in EXACT_HEADERS and got[name] != value:
            errors.append(f"header {name}: {got[name]!r}, documented {value!r}")
    return errors


def _sse_events(block: Block, body: str) -> tuple[list[Any], bool]:
    data = [line.removeprefix("data:").strip() for line in body.splitlines() if line.startswith("data:")]
    done = bool(data) and data[-1] == "[DONE]"
    return [json_body(block, d) for d in (data[:-1] if done else data)], done


def _check_sse(example: HttpExample, documented: str, text: str, captures: dict[str, Any]) -> list[str]:
    shapes, doc_done = _sse_events(example.response, documented)
    data = sse_data(text)
    done = bool(data) and data[-1] == "[DONE]"
    events = [json.loads(d) for d in (data[:-1] if done else data)]
    errors: list[str] = []
    if done != doc_done:
        errors.append(f"[DONE] at the end: documented {doc_done}, got {done}")
    matched = [False] * len(shapes)
    for number, event in enumerate(events):
        fits = [i for i, shape in enumerate(shapes) if not shape_errors(shape, event, {})]
        if not fits:
            errors.append(f"event {number} has the shape of no documented event: {event}")
        for i in fits:
            matched[i] = True
    errors += [f"documented event {i} never came" for i, seen in enumerate(matched) if not seen]
    if not errors:  # capture from the first event that fits each documented one
        for shape in shapes:
            first = next(e for e in events if not shape_errors(shape, e, {}))
            errors += shape_errors(shape, first, captures)
    return errors


def _check_body(example: HttpExample, documented: str, reply: httpx2.Response, captures: dict[str, Any]) -> list[str]:
    if not documented:
        return [] if not reply.content else [f"documented no body, got {reply.text[:200]!r}"]
    if documented.startswith("data:"):
        return _check_sse(example, documented, reply.text, captures)
    if documented.startswith(("{", "[")):
        try:
            got = reply.json()
        except json.JSONDecodeError:
            return [f"the body is not JSON: {reply.text[:200]!r}"]
        return shape_errors(json_body(example.response, documented), got, captures)
    missing = [line for line in documented.splitlines() if line.strip() != "..." and line.strip() not in reply.text]
    return [f"line {line!r} is not in the body" for line in missing]


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_readme_example(example: HttpExample, docs_gateway: Gateway, captures: dict[str, Any]) -> None:
    where = example.name
    request = parse_http(example.request)
    method, path = request.start.split(" ", 1)
    headers = {k: _substitute(v, docs_gateway.key, captures, where) for k, v in request.headers.items()}
    body = _substitute(request.body, docs_gateway.key, captures, where)
    url = docs_gateway.url + _substitute(path.strip(), docs_gateway.key, captures, where)
    reply = httpx2.request(method, url, headers=headers, content=body.encode() or None, timeout=30.0)

    response = parse_http(example.response)
    status = int(response.start.split()[1])
    errors: list[str] = []
    if reply.status_code != status:
        errors.append(f"status {reply.status_code}, documented {status}")
    errors += _check_headers(example, response.headers, reply.headers)
    if not errors:
        errors += _check_body(example, response.body, reply, captures)
    assert not errors, (
        f"{where}: the reply differs from README.md:\n  "
        + "\n  ".join(errors)
        + (f"\nreply: {reply.status_code} {reply.text[:2000]}")
    )


def test_the_readme_has_the_examples_the_docs_promise() -> None:
    """Seed chat (JSON and stream), OpenAI chat, models, analytics, costs, health with and without a key,
    every keys route, the dashboard, and error examples (a 400 naming a field, a 401)."""
    lines = {e.request.text.splitlines()[0] for e in EXAMPLES}
    for needed in (
        "POST /api/ai/chat",
        "POST /v1/chat/completions",
        "GET /v1/models",
        "GET /api/ai/analytics?days=30&detailed=true",
        "POST /api/ai/analytics/costs",
        "GET /api/ai/health",
        "POST /api/ai/keys",
        "GET /api/ai/keys",
        "POST /api/ai/keys/<key id>/rotate",
        "DELETE /api/ai/keys/<key id>",
        "GET /api/ai/dashboard",
    ):
        assert needed in lines, f"README.md has no example of {needed}"
    bodies = [e.request.text for e in EXAMPLES]
    assert any('"stream": true' in b for b in bodies)
    health = [e for e in EXAMPLES if e.request.text.startswith("GET /api/ai/health")]
    assert {"authorization" in parse_http(e.request).headers for e in health} == {True, False}
    statuses = {parse_http(e.response).start.split()[1] for e in EXAMPLES}
    assert {"400", "401"} <= statuses
    assert any('"field"' in e.response.text and " 400 " in e.response.text.splitlines()[0] for e in EXAMPLES)
