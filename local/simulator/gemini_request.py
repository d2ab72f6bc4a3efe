"""Gemini generateContent requests: the checks the real API makes, and the `Conversation` they describe.

Keys are accepted in camelCase and snake_case (proto3 JSON; recorded 200s send `parameters_json_schema`,
`include_thoughts`), unknown keys at the top level and in `generationConfig` are rejected the way the API
rejects them ("Unknown name ... Cannot find field"), so a field put in the wrong place shows up. Gemini 3
models require a `thoughtSignature` on the first functionCall part of each model turn since the last user
text (providers.md 3.1 ⚠; the documented placeholder value is accepted like any other).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

import orjson

from local.simulator.faults import WireError
from local.simulator.generation import Conversation, ToolSpec, estimate_prompt
from local.simulator.models import model_accepted

__all__ = ["parse_gemini"]

_TOP_LEVEL: Final = frozenset(
    {
        "model",
        "contents",
        "systemInstruction",
        "tools",
        "toolConfig",
        "safetySettings",
        "generationConfig",
        "cachedContent",
        "labels",
        "serviceTier",
        "store",
    }
)
_GENERATION: Final = frozenset(
    {
        "stopSequences",
        "responseMimeType",
        "responseSchema",
        "responseJsonSchema",
        "responseModalities",
        "candidateCount",
        "maxOutputTokens",
        "temperature",
        "topP",
        "topK",
        "seed",
        "presencePenalty",
        "frequencyPenalty",
        "responseLogprobs",
        "logprobs",
        "enableEnhancedCivicAnswers",
        "speechConfig",
        "thinkingConfig",
        "imageConfig",
        "mediaResolution",
        "audioTimestamp",
        "enableAffectiveDialog",
        "routingConfig",
        "modelSelectionConfig",
    }
)
_DATA_FIELDS: Final = (
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
)
_FUNCTION_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$")
_SNAKE: Final = re.compile(r"(?<!^)([A-Z])")
_MODES: Final = {"AUTO": "auto", "VALIDATED": "auto", "ANY": "required", "NONE": "none", "MODE_UNSPECIFIED": "auto"}


def _snake(name: str) -> str:
    return _SNAKE.sub(r"_\1", name).lower()


def _get(obj: Any, camel: str) -> Any:
    """`obj[camel]` or its snake_case twin (both spellings are valid proto3 JSON)."""
    if not isinstance(obj, Mapping):
        return None
    value = obj.get(camel)
    return obj.get(_snake(camel)) if value is None else value


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _bad(message: str) -> WireError:
    return WireError("invalid_request", message)


def _check_names(obj: Mapping[str, Any], known: frozenset[str], where: str | None) -> None:
    allowed = known | {_snake(name) for name in known}
    for name in obj:
        if name not in allowed:
            at = f" at '{where}'" if where else ""
            raise _bad(f'Invalid JSON payload received. Unknown name "{name}"{at}: Cannot find field.')


def _part(i: int, j: int, part: Any) -> tuple[str, int]:
    """(text for counting, images) of one part, validating it."""
    where = f"GenerateContentRequest.contents[{i}].parts[{j}]"
    if not isinstance(part, Mapping) or all(_get(part, f) is None for f in _DATA_FIELDS):
        raise _bad(f"* {where}.data: required oneof field 'data' must have one initialized field\n")
    if isinstance(_get(part, "text"), str):
        return part["text"], 0
    call = _get(part, "functionCall")
    if call is not None:
        if not isinstance(_get(call, "name"), str) or not _get(call, "name"):
            raise _bad(f"* {where}.function_call.name: Name cannot be empty.\n")
        return _get(call, "name") + orjson.dumps(_get(call, "args") or {}).decode(), 0
    response = _get(part, "functionResponse")
    if response is not None:
        if not isinstance(_get(response, "name"), str) or not _get(response, "name"):
            raise _bad(f"* {where}.function_response.name: Name cannot be empty.\n")
        if not isinstance(_get(response, "response"), Mapping):
            raise _bad(
                f"Invalid value at 'contents[{i}].parts[{j}].function_response.response' "
                "(type.googleapis.com/google.protobuf.Struct): expected an object"
            )
        return orjson.dumps(_get(response, "response")).decode(), 0
    return "", 1 if _get(part, "inlineData") is not None or _get(part, "fileData") is not None else 0


def _contents(raw: Any) -> tuple[list[dict[str, Any]], list[str], int]:
    if not isinstance(raw, list) or not raw:
        raise _bad("* GenerateContentRequest.contents: contents is not specified\n")
    texts: list[str] = []
    images = 0
    for i, content in enumerate(raw):
        if not isinstance(content, dict):
            raise _bad(
                f"Invalid value at 'contents[{i}]' (type.googleapis.com/google.ai.generativelanguage.v1beta.Content)"
            )
        if content.get("role") not in (None, "", "user", "model"):
            raise _bad("Please use a valid role: user, model.")
        parts = content.get("parts")
        if not isinstance(parts, list) or not parts:
            raise _bad(f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty.\n")
        pieces = [_part(i, j, part) for j, part in enumerate(parts)]
        texts.append("\n".join(text for text, _ in pieces))
        images += sum(n for _, n in pieces)
    return raw, texts, images


def _user_has_text(content: Mapping[str, Any]) -> bool:
    return content.get("role") in (None, "", "user") and any(isinstance(_get(p, "text"), str) for p in content["parts"])


def _check_signatures(model: str, contents: list[dict[str, Any]]) -> None:
    if not model.startswith("gemini-3"):
        return
    start = max((i for i, c in enumerate(contents) if _user_has_text(c)), default=-1) + 1
    for i in range(start, len(contents)):
        if contents[i].get("role") != "model":
            continue
        calls = [p for p in contents[i]["parts"] if _get(p, "functionCall") is not None]
        if calls and not _get(calls[0], "thoughtSignature"):
            name = _get(_get(calls[0], "functionCall"), "name")
            raise _bad(
                "Function call is missing a thought_signature in functionCall parts. This is required for tools to "
                "work correctly, and missing thought_signature may lead to degraded model performance. Additional "
                f"data, function call `default_api:{name}` , position {i + 1}. Please refer to "
                "https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
            )


def _tools(raw: Any) -> tuple[ToolSpec, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise _bad("Invalid value at 'tools': expected a list")
    tools: list[ToolSpec] = []
    for i, tool in enumerate(raw):
        for j, decl in enumerate(_list(_get(tool, "functionDeclarations"))):
            name = _get(decl, "name")
            if not isinstance(name, str) or not _FUNCTION_NAME.match(name):
                raise _bad(
                    f"* GenerateContentRequest.tools[{i}].function_declarations[{j}].name: Invalid function name. "
                    "Must start with a letter or an underscore. Must be alphameric (a-z, A-Z, 0-9), underscores (_), "
                    "dots (.), colons (:), or dashes (-), with a maximum length of 64.\n"
                )
            schema = _get(decl, "parametersJsonSchema") or _get(decl, "parameters")
            tools.append(ToolSpec(name=name, schema=schema if isinstance(schema, Mapping) else None))
    return tuple(tools)


def _tool_config(raw: Any, tools: tuple[ToolSpec, ...]) -> tuple[tuple[ToolSpec, ...], str, str | None]:
    config = _get(_get(raw, "functionCallingConfig"), "mode")
    mode = _MODES.get(str(config or "AUTO").upper(), "auto")
    allowed = _get(_get(raw, "functionCallingConfig"), "allowedFunctionNames")
    if isinstance(allowed, list) and allowed:
        tools = tuple(t for t in tools if t.name in allowed) or tools
    forced = tools[0].name if mode == "required" and len(tools) == 1 else None
    return tools, mode, forced


def _generation(raw: Any) -> Mapping[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise _bad("Invalid value at 'generation_config': expected an object")
    _check_names(raw, _GENERATION, "generation_config")
    thinking = _get(raw, "thinkingConfig")
    if _get(thinking, "thinkingBudget") is not None and _get(thinking, "thinkingLevel") is not None:
        raise _bad("You can only set only one of thinking budget and thinking level.")
    count = _get(raw, "candidateCount")
    if count is not None and (not isinstance(count, int) or not 1 <= count <= 8):
        raise _bad("* GenerateContentRequest.generation_config.candidate_count: must be between 1 and 8\n")
    return raw


def _tool_result(content: Mapping[str, Any]) -> str | None:
    """The last functionResponse of the final content, as text (its `result` string when it has one)."""
    responses = [_get(p, "functionResponse") for p in content["parts"] if _get(p, "functionResponse") is not None]
    if not responses:
        return None
    result = _get(responses[-1], "response")
    if isinstance(result, Mapping) and isinstance(result.get("result"), str):
        return str(result["result"])
    return orjson.dumps(result).decode()


def parse_gemini(body: Any, *, model: str, stream: bool) -> Conversation:
    if not isinstance(body, dict):
        raise _bad("Invalid JSON payload received. Expected an object.")
    _check_names(body, _TOP_LEVEL, None)
    contents, texts, images = _contents(_get(body, "contents"))
    _check_signatures(model, contents)
    generation = _generation(_get(body, "generationConfig"))
    tools, mode, forced = _tool_config(_get(body, "toolConfig"), _tools(_get(body, "tools")))
    if not model_accepted("gemini", model):
        raise WireError(
            "not_found",
            f"models/{model} is not found for API version v1beta, or is not supported for generateContent. "
            "Call ListModels to see the list of available models and their supported methods.",
        )
    system = "\n".join(str(_get(p, "text") or "") for p in _list(_get(_get(body, "systemInstruction"), "parts")))
    schema = _get(generation, "responseJsonSchema") or _get(generation, "responseSchema")
    max_tokens = _get(generation, "maxOutputTokens")
    user = next((c for c in reversed(contents) if _user_has_text(c)), None)
    return Conversation(
        model=model,
        stream=stream,
        prompt_tokens=estimate_prompt(
            [system, *texts] if system else texts,
            extra_chars=len(orjson.dumps(_get(body, "tools"))) if tools else 0,
            images=images,
        ),
        user_text="\n".join(p["text"] for p in user["parts"] if isinstance(_get(p, "text"), str)) if user else "",
        tool_result=_tool_result(contents[-1]),
        tools=tools,
        tool_mode=mode,
        forced_tool=forced,
        max_output_tokens=max_tokens if isinstance(max_tokens, int) else None,
        choices=_get(generation, "candidateCount") or 1,
        json_schema=schema if isinstance(schema, Mapping) else None,
        json_mode=_get(generation, "responseMimeType") == "application/json",
        thinking=_get(_get(generation, "thinkingConfig"), "includeThoughts") is True,
    )
