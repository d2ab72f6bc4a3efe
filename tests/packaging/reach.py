"""What a deployed function can import: every module of its source tree reachable from `main`, and every
outside import those modules make, lazy ones (inside functions) included, found by reading their syntax.

`python -c "import main"` only runs the imports at module level; the cloud adapters import their client
libraries lazily, so a missing requirement would only show on the first request that takes that path. The
packaging test imports everything this finds in the function's own virtual environment.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Reach", "reach"]


@dataclass(frozen=True)
class Reach:
    """`local`: dotted names of the tree's modules; `outside`: (module, name) pairs, name None for `import m`;
    `importers`: for each outside pair, the local modules that import it."""

    local: frozenset[str]
    outside: frozenset[tuple[str, str | None]]
    importers: Mapping[tuple[str, str | None], frozenset[str]]


def _module_file(root: Path, dotted: str) -> Path | None:
    base = root.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Import statements that can run: everything except `if TYPE_CHECKING:` bodies."""
    found: list[ast.Import | ast.ImportFrom] = []
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
            continue
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))
    return found


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def reach(root: Path, entry: str = "main") -> Reach:
    """Follows imports from `entry` through the modules under `root` (a function's unpacked source)."""
    local: set[str] = set()
    outside: dict[tuple[str, str | None], set[str]] = {}
    pending = [entry]

    def visit(dotted: str) -> bool:
        """Queues a local module and its parent packages; False when `dotted` is not in the tree."""
        if _module_file(root, dotted) is None:
            return False
        parts = dotted.split(".")
        pending.extend(".".join(parts[:end]) for end in range(1, len(parts) + 1))
        return True

    while pending:
        module = pending.pop()
        if module in local:
            continue
        path = _module_file(root, module)
        if path is None:
            raise ModuleNotFoundError(f"{module} is imported but not in {root}")
        local.add(module)
        for node in _runtime_nodes(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if not visit(alias.name):
                        outside.setdefault((alias.name, None), set()).add(module)
                continue
            target = _absolute(module, path.name == "__init__.py", node)
            if visit(target):
                for alias in node.names:
                    visit(f"{target}.{alias.name}")  # a submodule, or a name defined in the package
            else:
                for alias in node.names:
                    outside.setdefault((target, alias.name), set()).add(module)
    standard = sys.stdlib_module_names | {"__future__"}
    kept = {pair: frozenset(modules) for pair, modules in outside.items() if pair[0].split(".")[0] not in standard}
    return Reach(local=frozenset(local), outside=frozenset(kept), importers=kept)
