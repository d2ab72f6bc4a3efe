"""README.md read as data: its fenced blocks, the examples they pair into, and the shape rules the examples
are checked by (README, "How the examples are checked").

A request is an `http` block whose first line is a method and a path, then headers, a blank line and an
optional body; its response is the next block, an `http` block starting with `HTTP/1.1 <status>`. A Python
block is `python facade|gateway|direct`, followed by a `text output` block; a shell example is
`sh gateway`, followed by a `json` block.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "README",
    "Block",
    "CodeExample",
    "HttpExample",
    "Parsed",
    "blocks",
    "code_examples",
    "http_examples",
    "json_body",
    "line_matches",
    "parse_http",
    "section",
    "shape_errors",
]

README = Path(__file__).resolve().parents[2] / "README.md"
_FENCE = re.compile(r"^(`{3,})(.*)$")
_METHODS = ("GET ", "POST ", "PUT ", "PATCH ", "DELETE ")
CAPTURE = re.compile(r"^<([^<>]+)>$")
PLACEHOLDER = re.compile(r"<([a-z][a-z0-9 ]*)>")
CODE_KINDS = ("python facade", "python gateway", "python direct", "sh gateway")


@dataclass(frozen=True, slots=True)
class Block:
    info: str  # the words after the fence, e.g. "python facade"
    text: str
    line: int  # 1-based line of the opening fence
    heading: str  # the nearest heading above it

    @property
    def where(self) -> str:
        return f"README.md:{self.line} ({self.heading})"


def blocks(text: str) -> list[Block]:
    """Every fenced block, in order."""
    found: list[Block] = []
    heading = ""
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        opening = _FENCE.match(line)
        if opening is None:
            index += 1
            continue
        fence, info = opening.group(1), opening.group(2).strip()
        end = index + 1
        while end < len(lines) and lines[end].strip() != fence:
            end += 1
        if end == len(lines):
            raise AssertionError(f"README.md:{index + 1}: a fenced block is never closed")
        found.append(Block(info, "\n".join(lines[index + 1 : end]), index + 1, heading))
        index = end + 1
    return found


@dataclass(frozen=True, slots=True)
class Parsed:
    """A request or response block: its first line, headers (lower-case names) and body."""

    start: str
    headers: dict[str, str]
    body: str


def parse_http(block: Block) -> Parsed:
    head, _, body = block.text.partition("\n\n")
    first, *header_lines = head.splitlines()
    headers: dict[str, str] = {}
    for header in header_lines:
        name, sep, value = header.partition(":")
        if not sep:
            raise AssertionError(f"{block.where}: header line {header!r} has no colon")
        headers[name.strip().lower()] = value.strip()
    return Parsed(first.strip(), headers, body.strip())


@dataclass(frozen=True, slots=True)
class HttpExample:
    request: Block
    response: Block

    @property
    def name(self) -> str:
        return f"README.md:{self.request.line} {self.request.text.splitlines()[0]}"


@dataclass(frozen=True, slots=True)
class CodeExample:
    code: Block
    expected: Block

    @property
    def kind(self) -> str:
        return self.code.info

    @property
    def name(self) -> str:
        return f"README.md:{self.code.line} {self.code.info}"


def _is_request(block: Block) -> bool:
    return block.info == "http" and block.text.startswith(_METHODS)


def _is_response(block: Block) -> bool:
    return block.info == "http" and block.text.startswith("HTTP/1.1 ")


def http_examples(found: list[Block]) -> list[HttpExample]:
    """Request/response pairs; any other `http` block is an error (it would be an example nobody runs)."""
    examples: list[HttpExample] = []
    index = 0
    while index < len(found):
        block = found[index]
        if _is_request(block):
            following = found[index + 1] if index + 1 < len(found) else None
            if following is None or not _is_response(following):
                raise AssertionError(f"{block.where}: a request block must be followed by its response block")
            examples.append(HttpExample(block, following))
            index += 2
            continue
        if block.info == "http":
            raise AssertionError(f"{block.where}: an http block that is neither a request nor a paired response")
        index += 1
    return examples


def code_examples(found: list[Block]) -> list[CodeExample]:
    """Python and shell examples with their expected output; unmarked Python or curl is an error."""
    examples: list[CodeExample] = []
    for index, block in enumerate(found):
        language = block.info.split(" ", 1)[0]
        if block.info in CODE_KINDS:
            expected_info = "json" if language == "sh" else "text output"
            following = found[index + 1] if index + 1 < len(found) else None
            if following is None or following.info != expected_info:
                raise AssertionError(f"{block.where}: a {block.info} block must be followed by a {expected_info} block")
            examples.append(CodeExample(block, following))
        elif language == "python":
            raise AssertionError(f"{block.where}: a python block must say how it runs: one of {CODE_KINDS}")
        elif language == "sh" and "curl " in block.text:
            raise AssertionError(f"{block.where}: a curl example must be a `sh gateway` block (so it is run)")
    return examples


def section(text: str, heading: str) -> str:
    """The text under the `## heading` up to the next `## ` heading."""
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


# --- shapes --------------------------------------------------------------------------------------


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    raise TypeError(f"not a JSON value: {value!r}")


_SCALARS = frozenset({"null", "boolean", "number", "string"})


def shape_errors(doc: Any, got: Any, captures: dict[str, Any], path: str = "$") -> list[str]:
    """What differs between the documented value's shape and the received one (empty: the same shape).

    A documented string `"<name>"` captures the received value in `captures` (the same value if captured
    before)."""
    doc_kind, got_kind = _kind(doc), _kind(got)
    if doc_kind == "string" and (match := CAPTURE.match(doc)) is not None:
        name = match.group(1)
        if got_kind not in _SCALARS - {"null"}:
            return [f"{path}: expected a value to capture as <{name}>, got {got_kind}"]
        if name in captures and captures[name] != got:
            return [f"{path}: <{name}> was {captures[name]!r} before, now {got!r}"]
        captures[name] = got
        return []
    if doc_kind == "null" or got_kind == "null":
        other = got_kind if doc_kind == "null" else doc_kind
        return [] if other in _SCALARS else [f"{path}: documented {doc_kind}, got {got_kind}"]
    if doc_kind != got_kind:
        return [f"{path}: documented {doc_kind}, got {got_kind}"]
    if doc_kind == "list":
        if not doc:
            return []
        if not got:
            return [f"{path}: documented a non-empty list, got []"]
        return shape_errors(doc[0], got[0], captures, f"{path}[0]")
    if doc_kind == "object":
        keys = list(doc)
        if len(keys) == 1 and CAPTURE.match(keys[0]):
            errors: list[str] = []
            for key, value in got.items():
                errors += shape_errors(doc[keys[0]], value, captures, f"{path}.{key}")
            return errors
        missing, extra = set(doc) - set(got), set(got) - set(doc)
        if missing or extra:
            return [f"{path}: keys missing {sorted(missing)}, not documented {sorted(extra)}"]
        errors = []
        for key in doc:
            errors += shape_errors(doc[key], got[key], captures, f"{path}.{key}")
        return errors
    return []


def json_body(block: Block, body: str) -> Any:
    try:
        return json.loads(body)
    except json.JSONDecodeError as error:
        raise AssertionError(f"{block.where}: the documented JSON does not parse: {error}") from None


def line_matches(pattern: str, line: str) -> bool:
    """Whether a printed `line` matches an expected-output line: `<...>` is any non-empty text."""
    parts = re.split(r"<[^<>]+>", pattern)
    regex = ".+?".join(re.escape(part) for part in parts)
    return re.fullmatch(regex, line) is not None
