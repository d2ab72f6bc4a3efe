"""One header lookup for every layer that reads request headers (the API's switches, the cache policy).

Names are matched case-insensitively: ASGI servers and Starlette give lower-case names, a plain dict from
a test or the in-process facade may not. On Starlette's `Headers` the lookup walks the raw byte pairs: a
missing header, the usual case, then costs neither a KeyError raised and caught inside `Headers.get` nor
decoding every header for the case-insensitive second look (issue 9: about 1 µs per lookup, several per
request).
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.datastructures import Headers

__all__ = ["find_header"]


def find_header(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header `name` (given lower-case): an exact match first, else one differing in case."""
    if isinstance(headers, Headers):
        key = name.encode("latin-1")
        pairs = headers.raw
        found = next((v for k, v in pairs if k == key), None)
        if found is None:
            found = next((v for k, v in pairs if k.lower() == key), None)
        return None if found is None else found.decode("latin-1")
    value = headers.get(name)
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == name), None)
    return value
