"""Deterministic values for a JSON Schema (tool arguments, structured output).

Accepts JSON Schema as the three providers carry it: OpenAI `parameters`, Anthropic `input_schema`, Gemini
`parametersJsonSchema` and its OpenAPI-subset `parameters` (upper-case types, `nullable`). Every value is a
function of the schema, a seed and the JSON path, so the same tool always gets the same arguments.

Rules: `const`, then `enum` (one member picked by hash), then `$ref` (local `#/$defs/...` or
`#/definitions/...`), `anyOf`/`oneOf` (first non-null branch), `allOf` (object branches merged), then the
type (a list of types: the first non-null one; no type: object when `properties` is present, else a string).
Objects get every declared property (so all required ones); arrays get max(minItems, 1) items, capped by
maxItems; numbers respect minimum/maximum (and exclusive bounds); strings respect known formats and
minLength/maxLength. Past depth 8 objects are `{}` and arrays `[]`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from typing import Any, Final

__all__ = ["generate_value"]

_MAX_DEPTH: Final = 8
_FORMATS: Final[dict[str, str]] = {
    "date": "2024-01-15",
    "date-time": "2024-01-15T12:00:00Z",
    "time": "12:00:00",
    "email": "user@example.com",
    "uri": "https://example.com/resource",
    "url": "https://example.com/resource",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
}


def _hash(seed: str, path: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}|{path}".encode()).digest()[:8], "big")


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    seen = 0
    while isinstance(ref, str) and ref.startswith("#/") and seen < 16:
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, Mapping) else None
        if not isinstance(target, Mapping):
            return {}
        schema = target
        ref = schema.get("$ref")
        seen += 1
    return schema


def _type_of(schema: Mapping[str, Any]) -> str:
    declared = schema.get("type")
    if isinstance(declared, list):
        declared = next((t for t in declared if isinstance(t, str) and t.lower() != "null"), None)
    if isinstance(declared, str) and declared:
        return declared.lower()
    if "properties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return "string"


def _branch(schema: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for key in ("anyOf", "oneOf", "any_of", "one_of"):
        options = schema.get(key)
        if isinstance(options, list):
            for option in options:
                if isinstance(option, Mapping) and option.get("type") not in ("null", "NULL"):
                    return option
    return None


def _merge_all_of(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    parts = schema.get("allOf") or schema.get("all_of")
    if not isinstance(parts, list):
        return schema
    merged: dict[str, Any] = {k: v for k, v in schema.items() if k not in ("allOf", "all_of")}
    properties: dict[str, Any] = dict(merged.get("properties") or {})
    for part in parts:
        if isinstance(part, Mapping):
            resolved = _resolve(part, root)
            properties.update(resolved.get("properties") or {})
            merged.setdefault("type", resolved.get("type"))
    if properties:
        merged["properties"] = properties
    return merged


def _bound(schema: Mapping[str, Any], inclusive: str, exclusive: str, step: float) -> float | None:
    """An inclusive bound from `minimum`/`maximum` or the exclusive one nudged inwards by `step`."""
    value = schema.get(exclusive)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value + step)
    value = schema.get(inclusive)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _number(schema: Mapping[str, Any], h: int, *, integer: bool) -> int | float:
    step = 1.0 if integer else 0.5
    low = _bound(schema, "minimum", "exclusiveMinimum", step)
    high = _bound(schema, "maximum", "exclusiveMaximum", -step)
    if low is None:
        low = 1.0 if high is None else high - 100
    if high is None:
        high = low + 99
    if integer:
        lo, hi = math.ceil(low), math.floor(high)
        return lo + h % (hi - lo + 1) if hi >= lo else lo
    return round(low + (h % 1000) / 1000 * max(high - low, 0.0), 3)


def _string(schema: Mapping[str, Any], h: int, path: str) -> str:
    fmt = schema.get("format")
    if fmt == "uuid":
        digits = f"{h:016x}{h:016x}"
        value = f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-8{digits[17:20]}-{digits[20:32]}"
    elif isinstance(fmt, str) and fmt in _FORMATS:
        value = _FORMATS[fmt]
    else:
        name = path.rsplit(".", 1)[-1].split("[", 1)[0] or "value"
        value = f"{name}-{h % 0xFFFFFF:06x}"
    min_len = schema.get("minLength")
    max_len = schema.get("maxLength")
    if isinstance(min_len, int) and len(value) < min_len:
        value = value + "x" * (min_len - len(value))
    if isinstance(max_len, int) and max_len >= 0 and len(value) > max_len:
        value = value[:max_len]
    return value


def _value(schema: Mapping[str, Any], root: Mapping[str, Any], seed: str, path: str, depth: int) -> Any:
    schema = _merge_all_of(_resolve(schema, root), root)
    h = _hash(seed, path)
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        candidates = [v for v in enum if v is not None] or enum
        return candidates[h % len(candidates)]
    if (branch := _branch(schema)) is not None:
        return _value(branch, root, seed, path, depth)
    kind = _type_of(schema)
    if kind == "object":
        if depth >= _MAX_DEPTH:
            return {}
        properties = schema.get("properties")
        if not isinstance(properties, Mapping):
            return {}
        return {
            name: _value(sub if isinstance(sub, Mapping) else {}, root, seed, f"{path}.{name}", depth + 1)
            for name, sub in properties.items()
        }
    if kind == "array":
        if depth >= _MAX_DEPTH:
            return []
        items = schema.get("items")
        items = items if isinstance(items, Mapping) else {"type": "string"}
        count = max(schema.get("minItems") or 0, 1) if isinstance(schema.get("minItems"), int) else 1
        if isinstance(schema.get("maxItems"), int):
            count = min(count, schema["maxItems"])
        return [_value(items, root, seed, f"{path}[{i}]", depth + 1) for i in range(count)]
    if kind == "integer":
        return _number(schema, h, integer=True)
    if kind == "number":
        return _number(schema, h, integer=False)
    if kind == "boolean":
        return h % 2 == 0
    if kind == "null":
        return None
    return _string(schema, h, path)


def generate_value(schema: Mapping[str, Any] | None, *, seed: str) -> Any:
    """A value valid for `schema` (an object for a missing schema), the same for the same schema and seed."""
    if not isinstance(schema, Mapping):
        return {}
    return _value(schema, schema, seed, "$", 0)
