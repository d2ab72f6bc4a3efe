"""Cost of every recorded 200 reply: adapter usage -> catalog row -> micro-USD, checked by hand.

Each expectation is written as the arithmetic a person does: tokens times the price per million
tokens, which is micro-USD directly; the sum is rounded half-up once. A model absent from the
catalog (a preview id pricing.md does not list) must come out unpriced, never $0.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest

from shared.catalog import default_catalog
from shared.cost import cost_of
from shared.model_names import resolve_model
from shared.providers import PROVIDERS
from shared.providers.assembly import assemble
from shared.providers.gemini import JsonArrayStreamParser
from shared.providers.spec import StreamParser
from shared.unified import ChatRequest, ChatResponse, Message
from tests.recordings import entries, load_bytes, require_recordings

# file -> hand computation in micro-USD ("tokens*price + ..."), or None when unpriced.
EXPECTED: dict[str, str | None] = {
    # gpt-5: 1.25 in / 10.00 out
    "openai/text.json": "13*1.25 + 11*10.00",
    # gpt-3.5-turbo: 0.50 / 1.50
    "openai/tool_call.json": "70*0.50 + 46*1.50",
    # o3-mini: 1.10 / 4.40; the 320 reasoning tokens are inside the 347 completion tokens
    "openai/reasoning.json": "113*1.10 + 347*4.40",
    # gpt-4o: 2.50 / 10.00 / cached 1.25; 1152 of the 1220 prompt tokens were cache hits
    "openai/usage_cached.json": "68*2.50 + 1152*1.25 + 100*10.00",
    "openai/refusal.json": "65*2.50 + 13*10.00",
    # gpt-4: 30 / 60
    "openai/stream_text.sse": "12*30 + 5*60",
    # gpt-4o-mini: 0.15 / 0.60
    "openai/stream_text_2.sse": "78*0.15 + 9*0.60",
    "openai/stream_tool_call.sse": "75*0.15 + 51*0.60",
    "openai/stream_tool_call_2.sse": "53*0.15 + 15*0.60",
    # gpt-4.1: 2.00 / 8.00 / cached 0.50; 1024 of 1144 cached
    "openai/stream_usage.sse": "120*2.00 + 1024*0.50 + 3*8.00",
    # claude-3-5-sonnet: 3 / 15
    "anthropic/text.json": "9*3 + 13*15",
    # claude-sonnet-4-5: 3 / 15
    "anthropic/text_2.json": "12*3 + 29*15",
    "anthropic/reasoning_2.json": "92*3 + 196*15",
    # claude-3-opus: 15 / 75
    "anthropic/tool_call.json": "599*15 + 152*75",
    "anthropic/stream_tool_call.sse": "599*15 + 135*75",
    # claude-sonnet-4: 3 / 15 / cache read 0.30; input 11 uncached + 2055 cache reads
    "anthropic/usage_cached.json": "11*3 + 2055*0.30 + 100*15",
    "anthropic/stream_usage.sse": "11*3 + 1031*0.30 + 100*15",
    # claude-haiku-4-5: 1 / 5
    "anthropic/reasoning.json": "592*1 + 127*5",
    "anthropic/stream_tool_call_2.sse": "543*1 + 40*5",
    "anthropic/stream_thinking.sse": "46*1 + 427*5",
    # claude-sonnet-4-6: 3 / 15
    "anthropic/stream_text.sse": "17*3 + 12*15",
    # gemini-3-pro-preview and gemini-2.0-flash-exp are not in the catalog: unpriced
    "gemini/text.json": None,
    "gemini/reasoning.json": None,
    "gemini/stream_tool_call.sse": None,
    "gemini/stream_text.sse": None,
    # gemini-2.5-flash: 0.30 / 2.50 / cached 0.03; thoughts are billed as output
    "gemini/text_2.json": "9*0.30 + (9+34)*2.50",
    "gemini/tool_call.json": "115*0.30 + (17+95)*2.50",
    "gemini/usage_cached.json": "(557-330)*0.30 + 330*0.03 + (73+70)*2.50",
    "gemini/usage_cached_2.json": "(3520-3512)*0.30 + 3512*0.03 + (2+42)*2.50",
    "gemini/stream_usage.sse": "18*0.30 + (80+35)*2.50",
    "gemini/stream_json_array.json": "32*0.30 + (12+42)*2.50",
    # gemini-2.0-flash: 0.10 / 0.40
    "gemini/tool_call_2.json": "64*0.10 + 11*0.40",
    # gemini-1.5-flash: 0.075 / 0.30 (blocked: no output)
    "gemini/content_filter.json": "14*0.075",
    # gemini-2.5-pro: 1.25 / 10.00 (prompt under the 200k tier)
    "gemini/stream_thinking.sse": "34*1.25 + (469+787)*10.00",
}


def hand_micros(expression: str) -> int:
    """Evaluate `a*b + (c-d)*e` in Decimal: a tiny parser, no eval."""
    total = Decimal(0)
    for term in expression.split(" + "):
        factors = term.split("*")
        value = Decimal(1)
        for factor in factors:
            factor = factor.strip()
            if factor.startswith("("):
                inner = factor.strip("()")
                if "+" in inner:
                    a, b = inner.split("+")
                    value *= Decimal(a) + Decimal(b)
                else:
                    a, b = inner.split("-")
                    value *= Decimal(a) - Decimal(b)
            else:
                value *= Decimal(factor)
        total += value
    return int(total.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def reply(entry: dict[str, object]) -> ChatResponse:
    file = str(entry["file"])
    spec = PROVIDERS[str(entry["provider"])]
    body = load_bytes(file)
    if not (file.endswith(".sse") or "stream_json_array" in file):
        return spec.parse_response(body)
    parser: StreamParser
    if "stream_json_array" in file:
        parser = JsonArrayStreamParser()
    else:
        request = ChatRequest(model=str(entry["model"]), messages=(Message(role="user", content="x"),), stream=True)
        parser = spec.stream_parser(request)
    return assemble([*parser.feed(body), *parser.close()])


def test_every_recorded_reply_has_a_hand_computed_cost() -> None:
    require_recordings()
    replies = {e["file"] for e in entries() if e["http_status"] == 200}
    assert replies == set(EXPECTED)


@pytest.mark.parametrize("entry", [e for e in entries() if e["http_status"] == 200], ids=lambda e: e["file"])
def test_recorded_reply_cost(entry: dict[str, object]) -> None:
    response = reply(entry)
    assert response.usage is not None
    resolved = resolve_model(str(entry["model"]), default_catalog())
    cost = cost_of(response.usage, resolved.entry)
    expected = EXPECTED[str(entry["file"])]
    if expected is None:
        assert (cost.unpriced, cost.micros, cost.usd) == (True, None, None)
    else:
        assert not cost.unpriced
        assert cost.micros == hand_micros(expected)


def test_hand_arithmetic_helper() -> None:
    assert hand_micros("13*1.25 + 11*10.00") == 126  # 126.25
    assert hand_micros("65*2.50 + 13*10.00") == 293  # 292.5 rounds half up
    assert hand_micros("(557-330)*0.30 + (73+70)*2.50") == 426  # 68.1 + 357.5 = 425.6
