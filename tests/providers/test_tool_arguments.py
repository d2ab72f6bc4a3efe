"""Tool-call arguments: JSON string in, object out, or a RequestError naming the field."""

from __future__ import annotations

import pytest

from shared.errors import RequestError
from shared.providers.tool_arguments import arguments_object


@pytest.mark.parametrize(
    ("text", "expected"), [("", {}), ("{}", {}), ('{"city": "Paris", "n": [1]}', {"city": "Paris", "n": [1]})]
)
def test_objects_parse(text: str, expected: dict[str, object]) -> None:
    assert arguments_object(text, field="f") == expected


@pytest.mark.parametrize("text", ['{"city": ', "[1, 2]", '"Paris"', "null"])
def test_invalid_or_non_object_arguments_name_the_field(text: str) -> None:
    with pytest.raises(RequestError) as caught:
        arguments_object(text, field="messages[1].tool_calls[0].function.arguments")
    assert caught.value.field == "messages[1].tool_calls[0].function.arguments"
    assert caught.value.status == 400
