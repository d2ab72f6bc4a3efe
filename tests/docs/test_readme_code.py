"""README.md's code examples, run: `python facade` in-process (in order, one namespace, top-level await),
`python gateway` and `sh gateway` against the gateway started as `make run` starts it, `python direct`
against the simulator standing in for OpenAI; each checked against the block after it (README, "How the
examples are checked")."""

from __future__ import annotations

import ast
import contextlib
import inspect
import io
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

import shared.facade
from shared.settings import ENV_VARS
from tests.conformance.conftest import Gateway
from tests.docs.readme import README, CodeExample, blocks, code_examples, json_body, line_matches, shape_errors
from tests.facade.conftest import environ_for

EXAMPLES = code_examples(blocks(README.read_text()))
LOCAL_URL = "http://127.0.0.1:8080"
DEV_KEY_PLACEHOLDER = "<your gateway key>"


def _of(kind: str) -> list[CodeExample]:
    return [e for e in EXAMPLES if e.kind == kind]


def _check_output(example: CodeExample, printed: str) -> None:
    expected = example.expected.text.splitlines()
    lines = printed.rstrip("\n").split("\n")
    problems = [
        f"line {i + 1}: printed {got!r}, documented {want!r}"
        for i, (want, got) in enumerate(zip(expected, lines, strict=False))
        if not line_matches(want, got)
    ]
    if len(lines) != len(expected):
        problems.append(f"printed {len(lines)} lines, documented {len(expected)}")
    assert not problems, f"{example.name}: " + "; ".join(problems) + f"\nprinted:\n{printed}"


def _for_gateway(source: str, gateway: Gateway) -> str:
    return source.replace(LOCAL_URL, gateway.url).replace(DEV_KEY_PLACEHOLDER, gateway.key)


async def test_facade_examples_run_in_order(tmp_path: Path, sim_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every `python facade` block, as one script: `get_ai_service()` built from an environment that points
    the providers at the test simulator (a fresh holder, closed afterwards)."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    for name, value in environ_for(tmp_path, sim_url).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(shared.facade, "_service", None)
    monkeypatch.setattr(shared.facade, "_config", None)
    namespace: dict[str, Any] = {"__name__": "readme"}
    examples = _of("python facade")
    assert len(examples) >= 8
    try:
        for example in examples:
            code = compile(
                example.code.text, example.name, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True
            )
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                result = eval(code, namespace)
                if inspect.iscoroutine(result):
                    await result
            _check_output(example, out.getvalue())
    finally:
        service = shared.facade._service
        if service is not None:
            await service.aclose()


@pytest.mark.parametrize("example", _of("python gateway"), ids=lambda e: e.name)
def test_gateway_python_example(example: CodeExample, docs_gateway: Gateway) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(_for_gateway(example.code.text, docs_gateway), example.name, "exec"), {"__name__": "readme"})
    _check_output(example, out.getvalue())


@pytest.mark.parametrize("example", _of("python direct"), ids=lambda e: e.name)
def test_direct_python_example(example: CodeExample, sim_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The "before" of the migration guide: the SDK straight at a provider (the simulator speaks OpenAI)."""
    monkeypatch.setenv("OPENAI_BASE_URL", f"{sim_url}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-readme-direct")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(example.code.text, example.name, "exec"), {"__name__": "readme"})
    _check_output(example, out.getvalue())


@pytest.mark.parametrize("example", _of("sh gateway"), ids=lambda e: e.name)
def test_shell_example(example: CodeExample, docs_gateway: Gateway) -> None:
    script = _for_gateway(example.code.text, docs_gateway)
    env = {**os.environ, "KEY": docs_gateway.key}
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"{example.name}: exit {done.returncode}: {done.stderr}"
    try:
        got = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"{example.name}: printed no JSON: {done.stdout[:500]!r}") from None
    errors = shape_errors(json_body(example.expected, example.expected.text), got, {})
    assert not errors, f"{example.name}: " + "; ".join(errors) + f"\nprinted: {done.stdout[:2000]}"


def test_every_kind_of_example_is_there() -> None:
    kinds = {e.kind for e in EXAMPLES}
    assert kinds == {"python facade", "python gateway", "python direct", "sh gateway"}
