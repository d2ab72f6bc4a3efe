from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from shared.cost import DEFAULT_OUTPUT_RESERVE
from shared.routing.needs import RequestNeeds, unmet
from shared.routing.tokens import estimate_prompt_tokens
from shared.unified import ChatRequest, ImagePart, Message, ResponseFormat, TextPart, Tool, ToolCall
from tests.routing import chat, row


def test_a_plain_request_needs_nothing_special() -> None:
    request = chat()
    needs = RequestNeeds.of(request)
    assert needs == RequestNeeds(
        tools=False,
        vision=False,
        json_mode=False,
        streaming=False,
        sampling=frozenset(),
        prompt_tokens=estimate_prompt_tokens(request),
        max_tokens=None,
    )
    assert needs.output_reserve == DEFAULT_OUTPUT_RESERVE


def test_tools_from_definitions_calls_or_results() -> None:
    assert RequestNeeds.of(chat(tools=(Tool(name="f"),))).tools
    call = ToolCall(id="1", name="f", arguments="{}")
    history = (Message(role="user", content="hi"), Message(role="assistant", tool_calls=(call,)))
    assert RequestNeeds.of(ChatRequest(model="m", messages=history)).tools
    result = (Message(role="tool", content="42", tool_call_id="1"),)
    assert RequestNeeds.of(ChatRequest(model="m", messages=result)).tools


def test_vision_json_streaming() -> None:
    image = Message(role="user", content=(TextPart("see"), ImagePart("https://example.com/x.png")))
    assert RequestNeeds.of(ChatRequest(model="m", messages=(image,))).vision
    assert RequestNeeds.of(chat(response_format=ResponseFormat(type="json_object"))).json_mode
    assert RequestNeeds.of(chat(response_format=ResponseFormat(type="json_schema", schema={}))).json_mode
    assert not RequestNeeds.of(chat(response_format=ResponseFormat(type="text"))).json_mode
    assert RequestNeeds.of(chat(stream=True)).streaming


def test_sampling_names_only_what_is_set() -> None:
    request = chat(
        temperature=0.0, top_p=1.0, top_k=5, stop=("END",), n=2, seed=0, presence_penalty=0.0, frequency_penalty=0.0
    )
    assert RequestNeeds.of(request).sampling == frozenset(
        {"temperature", "top_p", "top_k", "stop", "n", "seed", "presence_penalty", "frequency_penalty"}
    )
    # Defaults every model accepts: no stop sequences, a single choice.
    assert RequestNeeds.of(chat(stop=(), n=1)).sampling == frozenset()


def test_output_reserve_is_max_tokens_when_set() -> None:
    assert RequestNeeds.of(chat(max_tokens=100)).output_reserve == 100
    assert RequestNeeds.of(chat(max_tokens=0)).output_reserve == 0


def _needs(**fields: Any) -> RequestNeeds:
    return replace(RequestNeeds(False, False, False, False, frozenset(), 10, None), **fields)


@pytest.mark.parametrize(
    ("entry_overrides", "need", "reason"),
    [
        ({"features": {"tools": False}}, {"tools": True}, "tools"),
        ({"features": {"vision": False}}, {"vision": True}, "vision"),
        ({"features": {"json_mode": False}}, {"json_mode": True}, "json_mode"),
        ({"features": {"streaming": False}}, {"streaming": True}, "streaming"),
        ({"sampling": ["stop", "n", "seed"]}, {"sampling": frozenset({"temperature"})}, "sampling:temperature"),
        ({"sampling": ["temperature"]}, {"sampling": frozenset({"top_p", "top_k"})}, "sampling:top_k"),
        ({"context_window": 1000}, {"prompt_tokens": 900, "max_tokens": 101}, "context"),
        ({"context_window": 1000}, {"prompt_tokens": 1001}, "context"),
        ({"max_output": 4096}, {"max_tokens": 4097}, "max_output"),
    ],
)
def test_unmet_names_what_is_missing(entry_overrides: dict[str, Any], need: dict[str, Any], reason: str) -> None:
    entry = row("m", **entry_overrides)
    assert unmet(entry, _needs(**need)) == reason
    assert unmet(row("m"), _needs(**need)) is None  # the default row has everything and room enough


def test_unmet_accepts_exact_fits() -> None:
    entry = row("m", context_window=1000, max_output=100)
    assert unmet(entry, _needs(prompt_tokens=900, max_tokens=100)) is None
    assert unmet(row("m", max_output=None), _needs(max_tokens=10**6, prompt_tokens=0)) == "context"
    assert unmet(row("m", max_output=None, context_window=2 * 10**6), _needs(max_tokens=10**6)) is None
