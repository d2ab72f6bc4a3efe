"""Reading `terraform/` for the HCL tests: every `.tf` file parsed with python-hcl2 into one `Config`.

python-hcl2 8 keeps quotes and comment keys unless told otherwise, so the options strip both (gcp-deploy.md,
section 5). Blocks come out as lists of dicts, expressions as `${...}` strings, literals as Python values.
Nothing here evaluates HCL: the tests read literal tables (locals, variable defaults) and match references
in expression strings, which is what checkov cannot check.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import hcl2

__all__ = [
    "ROOT",
    "TERRAFORM_DIR",
    "Config",
    "block",
    "blocks",
    "config",
    "nested_names",
    "ref",
    "refs",
    "schema_file",
]

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM_DIR = ROOT / "terraform"

_OPTIONS = hcl2.SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)
Body = dict[str, Any]


@dataclass(frozen=True)
class Config:
    resources: dict[tuple[str, str], Body]  # (type, name) -> body
    data: dict[tuple[str, str], Body]
    locals: dict[str, Any]
    variables: dict[str, Body]
    outputs: dict[str, Body]
    terraform: list[Body]
    providers: list[Body]
    files: dict[str, str]  # file name -> text

    def resource(self, kind: str, name: str) -> Body:
        return self.resources[(kind, name)]

    def of_type(self, kind: str) -> dict[str, Body]:
        return {name: body for (k, name), body in self.resources.items() if k == kind}

    def text(self, *, skip: str = "") -> str:
        return "\n".join(text for name, text in sorted(self.files.items()) if name != skip)


@cache
def config(directory: Path = TERRAFORM_DIR) -> Config:
    resources: dict[tuple[str, str], Body] = {}
    data: dict[tuple[str, str], Body] = {}
    local_values: dict[str, Any] = {}
    variables: dict[str, Body] = {}
    outputs: dict[str, Body] = {}
    terraform: list[Body] = []
    providers: list[Body] = []
    files: dict[str, str] = {}
    for path in sorted(directory.glob("*.tf")):
        files[path.name] = path.read_text()
        with path.open() as handle:
            parsed: dict[str, Any] = hcl2.load(handle, serialization_options=_OPTIONS)
        for kind, target in (("resource", resources), ("data", data)):
            for entry in parsed.get(kind, []):
                for rtype, named in entry.items():
                    for name, body in named.items():
                        key = (rtype, name)
                        if key in target:
                            raise AssertionError(f"{kind} {rtype}.{name} is declared twice")
                        target[key] = body
        for entry in parsed.get("locals", []):
            for name, value in entry.items():
                if name in local_values:
                    raise AssertionError(f"local.{name} is declared twice")
                local_values[name] = value
        for entry in parsed.get("variable", []):
            variables.update(entry)
        for entry in parsed.get("output", []):
            outputs.update(entry)
        terraform.extend(parsed.get("terraform", []))
        for entry in parsed.get("provider", []):
            providers.append(entry)
    return Config(resources, data, local_values, variables, outputs, terraform, providers, files)


def block(body: Mapping[str, Any], name: str) -> Body:
    """The one nested block `name` of `body` (static, or the content of a `dynamic` block)."""
    found = blocks(body, name)
    if len(found) != 1:
        raise AssertionError(f"expected one {name} block, found {len(found)}")
    return found[0]


def blocks(body: Mapping[str, Any], name: str) -> list[Body]:
    """Every nested block `name` of `body`: static ones and the `content` of `dynamic "name"` ones."""
    found: list[Body] = list(body.get(name, []))
    for dynamic in body.get("dynamic", []):
        if name in dynamic:
            found.extend(dynamic[name]["content"])
    return found


def nested_names(body: Mapping[str, Any]) -> set[str]:
    """The argument and block names of `body`, with `dynamic` blocks under their own names."""
    names = {key for key in body if key != "dynamic"}
    for dynamic in body.get("dynamic", []):
        names.update(dynamic)
    return names


_REF = re.compile(r"\b([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)(?:\[([^\]]+)\])?")


def refs(expression: object) -> Iterator[tuple[str, str, str | None]]:
    """(type, name, index) of each `type.name[index]` reference inside an expression string."""
    if not isinstance(expression, str):
        return
    for match in _REF.finditer(expression):
        index = match.group(3)
        yield match.group(1), match.group(2), None if index is None else index.strip('"')


def ref(expression: object, kind: str) -> tuple[str, str | None]:
    """The one `kind.name[index]` reference of `expression` -> (name, index); fails unless exactly one."""
    found = [(name, index) for rtype, name, index in refs(expression) if rtype == kind]
    if len(found) != 1:
        raise AssertionError(f"expected one {kind} reference in {expression!r}, found {found}")
    return found[0]


_FILE = re.compile(r'file\("\$\{local\.([a-z_]+)\}/([^"]+)"\)')


def schema_file(expression: object) -> Path:
    """The repository file a `file("${local.<dir>}/<name>")` expression reads (the dir local resolved)."""
    if not isinstance(expression, str):
        raise AssertionError(f"expected a file() expression, got {expression!r}")
    match = _FILE.search(expression)
    if match is None:
        raise AssertionError(f'no file("${{local.<dir>}}/...") in {expression!r}')
    directory = config().locals[match.group(1)]
    prefix = "${path.module}/"
    if not isinstance(directory, str) or not directory.startswith(prefix):
        raise AssertionError(f"local.{match.group(1)} must be relative to path.module: {directory!r}")
    return (TERRAFORM_DIR / directory[len(prefix) :] / match.group(2)).resolve()
