"""find_header: exact name first, then any case; the same answers on Starlette's Headers and on a dict."""

from __future__ import annotations

import pytest
from starlette.datastructures import Headers

from shared.headers import find_header

CASES = [
    ([("x-gateway-cache", "force")], "force"),
    ([("X-Gateway-Cache", "force")], "force"),  # a server or a facade caller that kept the case
    ([("X-Gateway-Cache", "a"), ("x-gateway-cache", "b")], "b"),  # the exact name wins
    ([("host", "h")], None),
    ([], None),
]


@pytest.mark.parametrize(("pairs", "expected"), CASES)
def test_starlette_headers(pairs: list[tuple[str, str]], expected: str | None) -> None:
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in pairs]
    assert find_header(Headers(raw=raw), "x-gateway-cache") == expected


@pytest.mark.parametrize(("pairs", "expected"), CASES)
def test_a_plain_mapping(pairs: list[tuple[str, str]], expected: str | None) -> None:
    assert find_header(dict(pairs), "x-gateway-cache") == expected


def test_values_are_latin_1_like_http() -> None:
    assert find_header(Headers(raw=[(b"x-note", "café".encode("latin-1"))]), "x-note") == "café"
