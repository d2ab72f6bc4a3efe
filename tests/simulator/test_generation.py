"""Pure parts of the simulator: reply rules, token estimates, text splitting, header notations, model names."""

from __future__ import annotations

import pytest

from local.simulator.directives import Directives
from local.simulator.generation import Conversation, ToolSpec, estimate_prompt, generate, make_id, split_text
from local.simulator.models import model_accepted
from local.simulator.ratelimits import go_duration, proto_duration, retry_headers

_DIGEST = "ab" * 32
_TOOL = ToolSpec(name="lookup", schema={"type": "object", "properties": {"q": {"type": "string"}}})


def _conv(**fields: object) -> Conversation:
    base: dict[str, object] = {
        "model": "m",
        "stream": False,
        "prompt_tokens": 10,
        "user_text": "What is up [sim chunks=2]",
    }
    return Conversation(**(base | fields))  # type: ignore[arg-type]


def test_text_reply_echoes_the_user_text_without_tags_and_tags_the_digest() -> None:
    reply = generate(_conv(), Directives(), _DIGEST)
    assert reply.text == "Echo: What is up #abababab"
    assert (reply.finish, reply.tool_calls, reply.thinking) == ("stop", (), "")
    assert reply.usage.prompt == 10
    assert reply.usage.completion == 7  # ceil(26 / 4)


def test_long_user_text_is_cut_to_twelve_words() -> None:
    text = " ".join(f"w{i}" for i in range(20))
    assert (
        generate(_conv(user_text=text), Directives(), _DIGEST).text
        == f"Echo: {' '.join(text.split()[:12])} ... #abababab"
    )


@pytest.mark.parametrize(
    ("fields", "directives", "calls"),
    [
        ({"tools": (_TOOL,)}, Directives(), ["lookup"]),
        ({"tools": (_TOOL,), "tool_mode": "none"}, Directives(), []),
        ({"tools": (_TOOL,), "tool_result": "42"}, Directives(), []),
        ({"tools": (_TOOL,)}, Directives(text="forced text"), []),
        ({"tools": (_TOOL, ToolSpec("other"))}, Directives(calls=3), ["lookup", "other", "lookup"]),
        ({"tools": (_TOOL, ToolSpec("other")), "forced_tool": "other"}, Directives(calls=2), ["other", "other"]),
        ({"tools": (_TOOL,), "parallel_calls": False}, Directives(calls=3), ["lookup"]),
    ],
)
def test_when_the_reply_is_a_tool_call(fields: dict[str, object], directives: Directives, calls: list[str]) -> None:
    reply = generate(_conv(**fields), directives, _DIGEST)
    assert [call.name for call in reply.tool_calls] == calls
    assert reply.finish == ("tool_calls" if calls else "stop")
    assert bool(reply.text) != bool(calls)


def test_tool_results_structured_output_and_limits() -> None:
    assert (
        generate(_conv(tool_result="18C sunny"), Directives(), _DIGEST).text
        == "Tool result received: 18C sunny #abababab"
    )
    schema = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 3, "maximum": 3}}}
    assert generate(_conv(json_schema=schema), Directives(), _DIGEST).text == '{"n":3}'
    assert generate(_conv(json_mode=True), Directives(), _DIGEST).text == '{"echo":"What is up","tag":"abababab"}'
    short = generate(_conv(max_output_tokens=1), Directives(), _DIGEST)
    assert (short.text, short.finish) == ("Echo", "length")
    assert generate(_conv(), Directives(finish="content_filter"), _DIGEST).finish == "content_filter"


def test_usage_directives_and_thinking() -> None:
    usage = generate(_conv(), Directives(cached_tokens=4, cache_write_tokens=100, reasoning_tokens=5), _DIGEST).usage
    assert (usage.cached, usage.cache_write, usage.reasoning) == (4, 6, 5)  # capped by the prompt size
    assert usage.completion == 7 + 5
    thinking = generate(_conv(thinking=True), Directives(), _DIGEST)
    assert thinking.thinking == "Thinking about: What is up"
    assert thinking.usage.reasoning == 7


def test_estimates_and_splitting() -> None:
    assert estimate_prompt(["abcd", "abcde"]) == 3 + (4 + 1) + (4 + 2)
    assert estimate_prompt([], extra_chars=9, images=2) == 3 + 3 + 170
    assert split_text("abcdefghij", 3) == ["abcd", "efg", "hij"]
    assert split_text("ab", 5) == ["a", "b"]
    assert split_text("", 3) == []
    assert make_id("seed", 29) == make_id("seed", 29)
    assert len(make_id("seed", 70)) == 70
    assert make_id("seed", 10) != make_id("other", 10)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.006, "6ms"),
        (0.999, "999ms"),
        (1, "1s"),
        (8.64, "8.64s"),
        (66.779, "1m6.779s"),
        (360, "6m0s"),
        (3723, "1h2m3s"),
    ],
)
def test_go_durations(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text


def test_retry_notations() -> None:
    assert proto_duration(34.4) == "34.4s"
    assert proto_duration(2) == "2s"
    assert retry_headers(None, with_ms=True) == {}
    assert retry_headers(1.2, with_ms=True) == {"retry-after": "2", "retry-after-ms": "1200"}
    assert retry_headers(3, with_ms=False) == {"retry-after": "3"}


@pytest.mark.parametrize(
    ("provider", "model", "accepted"),
    [
        ("openai", "gpt-4o-mini", True),
        ("openai", "o3-mini", True),
        ("openai", "chatgpt-4o-latest", True),
        ("openai", "non-existent-model", False),
        ("openai", "claude-sonnet-4-6", False),
        ("anthropic", "claude-3-5-sonnet-20241022", True),
        ("anthropic", "claude-haiku-4-5-20251001", True),
        ("anthropic", "claude-instant-1.2", True),
        ("anthropic", "claude-2.1", True),
        ("anthropic", "claude-sonet-4-5", False),
        ("anthropic", "claude-", False),
        ("gemini", "gemini-3-pro-preview", True),
        ("gemini", "gemma-3-27b-it", True),
        ("gemini", "text-bison-001", False),
    ],
)
def test_model_name_rules(provider: str, model: str, accepted: bool) -> None:
    assert model_accepted(provider, model) is accepted
