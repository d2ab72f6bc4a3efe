"""The schema-driven argument generator: deterministic, valid for the schema, all three schema dialects."""

from __future__ import annotations

from typing import Any

import pytest

from local.simulator.schema_values import generate_value


def test_same_schema_and_seed_give_the_same_value_and_seeds_differ() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "n": {"type": "integer"}}}
    first = generate_value(schema, seed="get_weather#0")
    assert first == generate_value(schema, seed="get_weather#0")
    assert first != generate_value(schema, seed="get_weather#1")


def test_every_declared_property_is_filled_so_required_ones_are_too() -> None:
    schema = {
        "type": "object",
        "properties": {"location": {"type": "string"}, "unit": {"type": "string"}},
        "required": ["location"],
    }
    value = generate_value(schema, seed="s")
    assert set(value) == {"location", "unit"}
    assert value["location"].startswith("location-")


@pytest.mark.parametrize(
    ("schema", "check"),
    [
        ({"type": "string"}, lambda v: isinstance(v, str) and v),
        ({"type": "integer"}, lambda v: isinstance(v, int) and 1 <= v <= 100),
        ({"type": "integer", "minimum": 5, "maximum": 6}, lambda v: v in (5, 6)),
        ({"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 2}, lambda v: v == 1),
        ({"type": "integer", "minimum": 1000}, lambda v: 1000 <= v <= 1099),
        ({"type": "number", "minimum": 0.5, "maximum": 0.75}, lambda v: isinstance(v, float) and 0.5 <= v <= 0.75),
        ({"type": "boolean"}, lambda v: isinstance(v, bool)),
        ({"type": "null"}, lambda v: v is None),
        ({"enum": ["celsius", "fahrenheit"]}, lambda v: v in ("celsius", "fahrenheit")),
        ({"enum": [None, "x"]}, lambda v: v == "x"),
        ({"const": {"fixed": True}}, lambda v: v == {"fixed": True}),
        ({"type": ["null", "integer"]}, lambda v: isinstance(v, int)),
        ({"type": "string", "minLength": 40}, lambda v: len(v) >= 40),
        ({"type": "string", "maxLength": 3}, lambda v: len(v) <= 3),
        ({"type": "string", "format": "date"}, lambda v: v == "2024-01-15"),
        ({"type": "string", "format": "email"}, lambda v: "@" in v),
        ({"type": "string", "format": "uuid"}, lambda v: len(v) == 36 and v[14] == "4"),
        ({"type": "array", "items": {"type": "integer"}}, lambda v: len(v) == 1 and isinstance(v[0], int)),
        ({"type": "array", "items": {"type": "string"}, "minItems": 3}, lambda v: len(v) == 3),
        ({"type": "array", "minItems": 5, "maxItems": 2}, lambda v: len(v) == 2),
        ({"anyOf": [{"type": "null"}, {"type": "integer"}]}, lambda v: isinstance(v, int)),
        ({"oneOf": [{"type": "boolean"}, {"type": "string"}]}, lambda v: isinstance(v, bool)),
        ({}, lambda v: isinstance(v, str)),
    ],
)
def test_values_respect_the_schema(schema: dict[str, Any], check: Any) -> None:
    assert check(generate_value({"type": "object", "properties": {"x": schema}}, seed="t")["x"])


def test_gemini_openapi_subset_with_upper_case_types() -> None:
    schema = {
        "type": "OBJECT",
        "properties": {
            "location": {"type": "STRING"},
            "unit": {"type": "STRING", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "INTEGER", "nullable": True},
            "tags": {"type": "ARRAY", "items": {"type": "STRING"}},
        },
        "required": ["location"],
    }
    value = generate_value(schema, seed="get_weather#0")
    assert isinstance(value["location"], str)
    assert value["unit"] in ("celsius", "fahrenheit")
    assert isinstance(value["days"], int)
    assert isinstance(value["tags"], list)
    assert isinstance(value["tags"][0], str)


def test_refs_all_of_and_nesting() -> None:
    schema = {
        "type": "object",
        "$defs": {"Point": {"type": "object", "properties": {"x": {"type": "number"}, "y": {"type": "number"}}}},
        "properties": {
            "origin": {"$ref": "#/$defs/Point"},
            "legacy": {"$ref": "#/definitions/Missing"},
            "merged": {
                "allOf": [{"properties": {"a": {"type": "string"}}}, {"properties": {"b": {"type": "boolean"}}}]
            },
            "deep": {"type": "object", "properties": {"list": {"type": "array", "items": {"$ref": "#/$defs/Point"}}}},
        },
    }
    value = generate_value(schema, seed="s")
    assert set(value["origin"]) == {"x", "y"}
    assert isinstance(value["legacy"], str)  # an unresolvable ref degrades to "no schema"
    assert set(value["merged"]) == {"a", "b"}
    assert set(value["deep"]["list"][0]) == {"x", "y"}


def test_recursive_schemas_stop_at_the_depth_limit() -> None:
    schema = {
        "$defs": {"Node": {"type": "object", "properties": {"child": {"$ref": "#/$defs/Node"}}}},
        "$ref": "#/$defs/Node",
    }
    value = generate_value(schema, seed="s")
    depth = 0
    while value:
        value = value["child"]
        depth += 1
    assert depth == 8


def test_a_missing_or_empty_schema_gives_an_empty_object() -> None:
    assert generate_value(None, seed="s") == {}
    assert generate_value({"type": "object"}, seed="s") == {}
    assert generate_value({"type": "object", "properties": {}}, seed="s") == {}
