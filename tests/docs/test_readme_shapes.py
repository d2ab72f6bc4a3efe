"""The shape rules the README's examples are checked by (pure functions of tests/docs/readme.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.docs.readme import blocks, code_examples, http_examples, line_matches, shape_errors


def test_same_shape_with_other_values_passes() -> None:
    doc = {"id": "a", "n": 1, "ok": True, "items": [{"x": 1.5}], "meta": None}
    got = {"id": "b", "n": 2.5, "ok": False, "items": [{"x": 3}, {"y": 1}], "meta": "now set"}
    assert shape_errors(doc, got, {}) == []


@pytest.mark.parametrize(
    ("doc", "got"),
    [
        ({"a": 1}, {"a": 1, "b": 2}),  # a key the README does not show
        ({"a": 1, "b": 2}, {"a": 1}),  # a documented key missing
        ({"a": "1"}, {"a": 1}),  # another JSON type
        ({"a": True}, {"a": 1}),  # a boolean is not a number
        ({"a": [1]}, {"a": []}),  # a documented non-empty list
        ({"a": {"b": 1}}, {"a": None}),  # null stands only for scalars
        ({"a": [{"b": 1}]}, {"a": [{"c": 1}]}),  # lists by their first element
    ],
)
def test_a_different_shape_fails(doc: Any, got: Any) -> None:
    assert shape_errors(doc, got, {}) != []


def test_a_map_checks_every_value() -> None:
    doc = {"<model>": {"requests": 1}}
    assert shape_errors(doc, {}, {}) == []
    assert shape_errors(doc, {"m1": {"requests": 2}, "m2": {"requests": 0}}, {}) == []
    assert shape_errors(doc, {"m1": {"requests": 2}, "m2": {"calls": 0}}, {}) != []


def test_captures_take_the_value_and_hold_it() -> None:
    captures: dict[str, Any] = {}
    assert shape_errors({"id": "<key id>"}, {"id": "pk_1"}, captures) == []
    assert captures == {"key id": "pk_1"}
    assert shape_errors({"keys": [{"id": "<key id>"}]}, {"keys": [{"id": "pk_1"}]}, captures) == []
    assert shape_errors({"id": "<key id>"}, {"id": "pk_2"}, captures) != []


def test_output_lines_match_placeholders() -> None:
    assert line_matches("cost: <usd> USD", "cost: 0.000003 USD")
    assert not line_matches("cost: <usd> USD", "cost:  EUR")
    assert not line_matches("3 300", "3 301")


def test_unmarked_blocks_are_refused() -> None:
    with pytest.raises(AssertionError, match="must say how it runs"):
        code_examples(blocks("```python\nprint(1)\n```\n"))
    with pytest.raises(AssertionError, match="sh gateway"):
        code_examples(blocks("```sh\ncurl -s http://127.0.0.1:8080/v1/models\n```\n"))
    with pytest.raises(AssertionError, match="followed by its response"):
        http_examples(blocks("```http\nGET /v1/models\n```\n"))
