"""Gemini parse_request (shared.providers.gemini_schema): every recorded request parsed and built
back (round trips), and hand-written cases of Gemini's own request format (camelCase and snake_case
keys, OpenAPI-subset schemas, model turns with thoughts and calls, function calling modes, and the
field named for each malformed input).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import orjson
import pytest

from shared.errors import RequestError
from shared.providers import gemini
from shared.unified import (
    ChatRequest,
    ImagePart,
    Message,
    ReasoningBlock,
    ResponseFormat,
    TextPart,
    Tool,
    ToolChoiceFunction,
)
from tests.providers.test_gemini import build, req, user
from tests.providers.test_gemini_reply import CALL_ID
from tests.recordings import entries, load_json, require_recordings

# --- request round trips ---------------------------------------------------------------------------
# Fields of the recorded requests the adapter deliberately does not emit (path -> reason).
NOT_EMITTED: dict[tuple[str, ...], str] = {
    ("safetySettings",): "no unified equivalent: the gateway sends no safety thresholds (Gemini's defaults apply)",
    ("cachedContent",): "an explicit cache is a resource of one key's project; the unified form has no place for it",
    ("systemInstruction", "role"): "the API ignores the role of the system instruction; none is sent",
    ("generationConfig", "responseModalities"): "the gateway is text-only and TEXT is the default modality",
}
# Structural rewrites, each applied to the original before comparing (see _normalize):
# - snake_case keys (parameters_json_schema, include_thoughts) come back camelCase;
# - `null` values (`"description": null`) are absent;
# - OpenAPI-subset `parameters` come back as `parametersJsonSchema`, the same schema in JSON Schema
#   spelling (lowercase type names);
# - a parameter schema with no properties is omitted (a function without parameters);
# - an empty `generationConfig` is omitted.


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def _camel_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {_camel(k): _camel_keys(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_camel_keys(v) for v in value]
    return value


def _lower_types(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: v.lower() if k == "type" and isinstance(v, str) else _lower_types(v) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_lower_types(v) for v in schema]
    return schema


def _normalize(original: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = _camel_keys(original)
    for path in NOT_EMITTED:
        parent = body
        for key in path[:-1]:
            parent = parent.get(key, {})
        parent.pop(path[-1], None)
    for tool in body.get("tools", []):
        for declaration in tool["functionDeclarations"]:
            if "parameters" in declaration:
                declaration["parametersJsonSchema"] = _lower_types(declaration.pop("parameters"))
            if not declaration.get("parametersJsonSchema", {}).get("properties"):
                declaration.pop("parametersJsonSchema", None)
    if body.get("generationConfig") == {}:
        del body["generationConfig"]
    return body


def _request_files() -> list[str]:
    return sorted(e["request_file"] for e in entries("gemini") if e["request_file"])


def test_round_trip_list_is_not_empty_when_recordings_exist() -> None:
    require_recordings()
    assert len(_request_files()) == len(entries("gemini"))


@pytest.mark.parametrize("file", _request_files())
def test_recorded_request_round_trip(file: str) -> None:
    entry = next(e for e in entries("gemini") if e["request_file"] == file)
    original = load_json(file)
    # The model is in the URL, not the body: the manifest's model is the recorded URL's.
    assert f"/models/{entry['model']}:" in entry["request"]["url"]
    request = gemini.parse_request(original, model=entry["model"])
    stream = ":streamGenerateContent" in entry["request"]["url"]
    built = gemini.build_request(dataclasses.replace(request, stream=stream), api_key="test-key")
    assert built.url.startswith(f"{gemini.DEFAULT_BASE_URL}/models/{entry['model']}:")
    assert built.stream == stream
    assert orjson.loads(built.body) == _normalize(original)


def test_round_trip_of_tool_history_keeps_names_signatures_and_pairs_ids() -> None:
    request = gemini.parse_request(load_json("gemini/usage_cached.request.json"), model="gemini-2.5-flash")
    roles = [m.role for m in request.messages]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "tool", "assistant", "tool"]
    calls = [c for m in request.messages for c in m.tool_calls]
    assert [c.name for c in calls] == ["web_search", "web_search", "read_website"]
    assert all(CALL_ID.match(c.id) and c.thought_signature for c in calls)
    assert [m.tool_call_id for m in request.messages if m.role == "tool"] == [c.id for c in calls]
    assert request.stop == ("\nObservation:",)
    assert [t.name for t in request.tools] == ["web_search", "read_website", "generate_report"]


def test_parse_request_of_a_malformed_recorded_shape_names_the_field() -> None:
    # No recorded Gemini request is malformed; a recorded one with a broken part shows the field naming.
    body = load_json("gemini/text.request.json")
    body["contents"][0]["parts"] = ["Invalid content"]
    with pytest.raises(RequestError) as caught:
        gemini.parse_request(body, model="gemini-3-pro-preview")
    assert caught.value.field == "contents[0].parts[0]"


# --- parse_request: Gemini's own format ------------------------------------------------------------
def test_parse_request_reads_every_field_in_camel_and_snake_case() -> None:
    camel = {
        "systemInstruction": {"role": "user", "parts": [{"text": "Be terse."}]},
        "contents": [
            {"role": "user", "parts": [{"text": "Look:"}, {"inlineData": {"mimeType": "image/png", "data": "iVBO"}}]}
        ],
        "tools": [
            {
                "functionDeclarations": [
                    {"name": "f", "description": "d", "parametersJsonSchema": {"type": "object", "properties": {}}}
                ]
            },
            {"googleSearch": {}},
        ],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}},
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}],
        "generationConfig": {
            "maxOutputTokens": 100,
            "temperature": 1,
            "topP": 0.5,
            "topK": 3.0,
            "stopSequences": ["END"],
            "candidateCount": 2,
            "seed": 9,
            "presencePenalty": 0.1,
            "frequencyPenalty": 0.2,
            "responseMimeType": "application/json",
            "responseJsonSchema": {"type": "object"},
            "thinkingConfig": {"thinkingLevel": "HIGH", "includeThoughts": True},
        },
    }
    expected = ChatRequest(
        model="gemini-3-pro-preview",
        messages=(
            Message(role="system", content="Be terse."),
            user((TextPart("Look:"), ImagePart("data:image/png;base64,iVBO"))),
        ),
        tools=(Tool(name="f", description="d", parameters={"type": "object", "properties": {}}),),
        tool_choice=ToolChoiceFunction("f"),
        max_tokens=100,
        temperature=1.0,
        top_p=0.5,
        top_k=3,
        stop=("END",),
        n=2,
        seed=9,
        presence_penalty=0.1,
        frequency_penalty=0.2,
        response_format=ResponseFormat(type="json_schema", schema={"type": "object"}),
        reasoning_effort="high",
        include_reasoning=True,
    )
    assert gemini.parse_request(camel, model="models/gemini-3-pro-preview") == expected

    def snake(value: Any) -> Any:
        if isinstance(value, dict):
            return {re.sub(r"(?<!^)(?=[A-Z])", "_", k).lower(): snake(v) for k, v in value.items()}
        return [snake(v) for v in value] if isinstance(value, list) else value

    snake_body = snake(camel)
    assert "system_instruction" in snake_body
    assert gemini.parse_request(snake_body, model="gemini-3-pro-preview") == expected


def test_parse_request_budget_and_json_object() -> None:
    body = {
        "contents": [{"parts": [{"text": "hi"}]}],
        "generationConfig": {
            "responseMimeType": "application/json",
            "thinkingConfig": {"thinking_budget": 0},
        },
    }
    request = gemini.parse_request(body, model="gemini-2.5-flash")
    assert request.response_format == ResponseFormat(type="json_object")
    assert request.reasoning_budget == 0
    assert request.messages == (user("hi"),)


def test_parse_request_converts_openapi_schemas_to_json_schema() -> None:
    parameters = {
        "type": "OBJECT",
        "properties": {
            "city": {"type": "STRING", "description": "City", "nullable": True},
            "tags": {
                "type": "ARRAY",
                "items": {"type": "STRING", "enum": ["a", "b"]},
                "minItems": "1",
                "max_items": "3",
            },
            "either": {"anyOf": [{"type": "INTEGER"}, {"type": "NUMBER", "format": "float"}]},
        },
        "required": ["city"],
        "propertyOrdering": ["city", "tags", "either"],
    }
    body = {
        "contents": [{"parts": [{"text": "hi"}]}],
        "tools": [{"function_declarations": [{"name": "f", "parameters": parameters}]}],
        "generationConfig": {
            "responseMimeType": "application/json",
            "responseSchema": {"type": "STRING", "example": "x"},
        },
    }
    request = gemini.parse_request(body, model="gemini-2.0-flash")
    assert request.tools[0].parameters == {
        "type": "object",
        "properties": {
            "city": {"type": ["string", "null"], "description": "City"},
            "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}, "minItems": 1, "maxItems": 3},
            "either": {"anyOf": [{"type": "integer"}, {"type": "number", "format": "float"}]},
        },
        "required": ["city"],
    }
    assert request.response_format == ResponseFormat(type="json_schema", schema={"type": "string", "examples": ["x"]})


def test_parse_request_model_turns_thoughts_calls_and_their_responses() -> None:
    body = {
        "contents": [
            {"role": "user", "parts": [{"text": "q"}]},
            {
                "role": "model",
                "parts": [
                    {"text": "Thinking.", "thought": True},
                    {"text": "Let me check.", "thoughtSignature": "turn-sig"},
                    {"functionCall": {"name": "f", "args": {"n": 1}}, "thoughtSignature": "sig-1"},
                    {"functionCall": {"name": "f", "args": {"n": 2}}},
                    {"functionCall": {"id": "own-id", "name": "g"}},
                ],
            },
            {
                "role": "user",
                "parts": [
                    {"functionResponse": {"name": "g", "id": "own-id", "response": {"ok": True}}},
                    {"functionResponse": {"name": "f", "response": {"result": "one"}}},
                    {"functionResponse": {"name": "f", "response": {"result": 2}}},
                    {"text": "And now?"},
                ],
            },
        ]
    }
    messages = gemini.parse_request(body, model="gemini-2.5-pro").messages
    model_turn = messages[1]
    assert model_turn.content == "Let me check."
    assert model_turn.reasoning == (ReasoningBlock(text="Thinking.", signature="turn-sig"),)
    first, second, third = model_turn.tool_calls
    assert (first.name, orjson.loads(first.arguments), first.thought_signature) == ("f", {"n": 1}, "sig-1")
    assert (second.arguments, second.thought_signature, third.id, third.arguments) == ('{"n":2}', None, "own-id", "{}")
    assert CALL_ID.match(first.id)
    assert CALL_ID.match(second.id)
    assert first.id != second.id
    assert messages[2:] == (
        Message(role="tool", content='{"ok":true}', tool_call_id="own-id"),
        Message(role="tool", content="one", tool_call_id=first.id),
        Message(role="tool", content='{"result":2}', tool_call_id=second.id),
        user("And now?"),
    )
    rebuilt = build(req(*messages, model="gemini-2.5-pro"))
    assert rebuilt["contents"] == [
        *body["contents"][:1],
        {
            "role": "model",
            "parts": [
                {"text": "Thinking.", "thought": True},
                {"text": "Let me check.", "thoughtSignature": "turn-sig"},
                {"functionCall": {"name": "f", "args": {"n": 1}}, "thoughtSignature": "sig-1"},
                {
                    "functionCall": {"name": "f", "args": {"n": 2}},
                    "thoughtSignature": "skip_thought_signature_validator",
                },
                {"functionCall": {"name": "g", "args": {}}, "thoughtSignature": "skip_thought_signature_validator"},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "g", "response": {"ok": True}}},
                {"functionResponse": {"name": "f", "response": {"result": "one"}}},
                {"functionResponse": {"name": "f", "response": {"result": 2}}},
                {"text": "And now?"},
            ],
        },
    ]


@pytest.mark.parametrize(
    ("mode", "names", "choice"),
    [
        ("AUTO", None, "auto"),
        ("NONE", None, "none"),
        ("ANY", None, "required"),
        ("ANY", ["a", "b"], "required"),
        ("ANY", ["a"], ToolChoiceFunction("a")),
        ("VALIDATED", None, "auto"),
        ("MODE_UNSPECIFIED", None, None),
    ],
)
def test_parse_request_function_calling_modes(mode: str, names: list[str] | None, choice: Any) -> None:
    config: dict[str, Any] = {"mode": mode}
    if names is not None:
        config["allowed_function_names"] = names
    body = {"contents": [{"parts": [{"text": "hi"}]}], "tool_config": {"function_calling_config": config}}
    assert gemini.parse_request(body, model="m").tool_choice == choice


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"contents": "hi"}, "contents"),
        ({"contents": [["x"]]}, "contents[0]"),
        ({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}, "contents[0].role"),
        ({"contents": [{"role": "user"}]}, "contents[0].parts"),
        ({"contents": [{"parts": [{"text": 5}]}]}, "contents[0].parts[0].text"),
        ({"contents": [{"parts": [{"fileData": {"fileUri": "gs://x"}}]}]}, "contents[0].parts[0]"),
        ({"contents": [{"parts": [{"inlineData": {"data": "x"}}]}]}, "contents[0].parts[0].inlineData.mimeType"),
        (
            {"contents": [{"parts": [{"functionResponse": {"name": "f", "response": {}}}]}]},
            "contents[0].parts[0].functionResponse.name",
        ),
        (
            {"contents": [{"role": "model", "parts": [{"functionCall": {"args": {}}}]}]},
            "contents[0].parts[0].functionCall.name",
        ),
        (
            {"contents": [{"role": "model", "parts": [{"functionCall": {"name": "f", "args": []}}]}]},
            "contents[0].parts[0].functionCall.args",
        ),
        ({"contents": [], "generationConfig": {"temperature": "hot"}}, "generationConfig.temperature"),
        ({"contents": [], "generationConfig": {"maxOutputTokens": True}}, "generationConfig.maxOutputTokens"),
        ({"contents": [], "generationConfig": {"stopSequences": "END"}}, "generationConfig.stopSequences"),
        (
            {"contents": [], "tools": [{"functionDeclarations": [{"description": "no name"}]}]},
            "tools[0].functionDeclarations[0].name",
        ),
        (
            {"contents": [], "toolConfig": {"functionCallingConfig": {"mode": "SOMETIMES"}}},
            "toolConfig.functionCallingConfig.mode",
        ),
        ({"contents": [], "systemInstruction": {"parts": [{"inlineData": {}}]}}, "systemInstruction.parts[0].text"),
    ],
)
def test_parse_request_names_the_malformed_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(RequestError) as caught:
        gemini.parse_request(body, model="gemini-2.5-flash")
    assert caught.value.field == field


def test_parse_request_needs_a_model() -> None:
    with pytest.raises(RequestError) as caught:
        gemini.parse_request({"contents": []})
    assert caught.value.field == "model"
    assert gemini.parse_request({"contents": [], "model": "models/gemini-2.5-flash"}).model == "gemini-2.5-flash"
