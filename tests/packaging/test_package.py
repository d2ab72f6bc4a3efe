"""tools/package.py: each function's zip has its main.py and requirements.txt at the root and shared/ beside
them, the same tree always gives the same bytes, and the unpacked zip imports and serves its entry points in
a fresh virtual environment holding only that function's requirements (tests/packaging/function_venv.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.packaging.function_venv import function_venv, requirements_key
from tests.packaging.reach import reach
from tools.package import ROOT, SOURCES, ZIP_DATE_TIME, Package, build, deployed_files, main

# Entry point -> functions-framework signature type, per source; `aio` marks those served by the ASGI stack.
EXPECTED_ENTRY_POINTS = {
    "analytics": {"analytics": "http", "analytics_rollup": "cloudevent"},
    "chat": {"chat": "http"},
    "health": {"health": "http"},
    "keys": {"keys": "http", "keys_rewrap": "cloudevent"},
}
EXPECTED_AIO = {"analytics", "chat", "health", "keys"}
# What tests, lint, type checks and the SDK conformance tests use; none of it may ship with a function.
DEV_ONLY = {"pytest", "selenium", "ruff", "mypy", "openai", "anthropic", "google-genai", "hypothesis"}
PROBE = Path(__file__).with_name("probe.py")


def _requirement_names(text: str) -> dict[str, str]:
    """Normalized project name (PEP 503) -> the requirement line."""
    names = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            name = re.split(r"[\[=<>!~;\s]", line, maxsplit=1)[0]
            names[re.sub(r"[-_.]+", "-", name).lower()] = line
    return names


def _repo_shared_files(root: Path) -> set[str]:
    """An independent listing of what should ship from shared/: every file but caches and compiled files."""
    found = set()
    for path in (root / "shared").rglob("*"):
        parts = path.relative_to(root).parts
        if path.is_file() and "__pycache__" not in parts and path.suffix not in {".pyc", ".pyo"}:
            found.add("/".join(parts))
    return found


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Package]:
    out = tmp_path_factory.mktemp("build")
    return {source: build(source, out=out) for source in SOURCES}


def test_every_function_is_packaged() -> None:
    functions = sorted(path.parent.name for path in (ROOT / "functions").glob("*/main.py"))
    assert list(SOURCES) == functions
    assert set(EXPECTED_ENTRY_POINTS) == set(SOURCES)


@pytest.mark.parametrize("source", SOURCES)
def test_zip_has_the_function_at_its_root_and_shared_beside_it(packages: dict[str, Package], source: str) -> None:
    package = packages[source]
    with zipfile.ZipFile(package.zip_path) as archive:
        infos = archive.infolist()
        names = [info.filename for info in infos]
        assert archive.read("main.py") == (ROOT / "functions" / source / "main.py").read_bytes()
        assert archive.read("requirements.txt") == (ROOT / "functions" / source / "requirements.txt").read_bytes()
    assert names == sorted(names)
    assert set(names) == {"main.py", "requirements.txt"} | _repo_shared_files(ROOT)
    # The package's data files ship too: the catalog, the event schemas, the dashboard's static files.
    assert {"shared/__init__.py", "shared/data/catalog.json", "shared/dashboard/static/index.html"} <= set(names)
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
    assert {info.date_time for info in infos} == {ZIP_DATE_TIME}
    assert {stat.S_IMODE(info.external_attr >> 16) for info in infos} == {0o644}
    assert package.files == len(names)


@pytest.mark.parametrize("source", SOURCES)
def test_build_dir_holds_what_the_zip_holds(packages: dict[str, Package], source: str) -> None:
    package = packages[source]
    tree = {
        path.relative_to(package.directory).as_posix(): path.read_bytes()
        for path in package.directory.rglob("*")
        if path.is_file()
    }
    with zipfile.ZipFile(package.zip_path) as archive:
        assert tree == {name: archive.read(name) for name in archive.namelist()}


def test_digests_are_the_zips(packages: dict[str, Package]) -> None:
    for package in packages.values():
        data = package.zip_path.read_bytes()
        assert package.sha256 == hashlib.sha256(data).hexdigest()
        assert package.md5 == hashlib.md5(data, usedforsecurity=False).hexdigest()


def _copy_repo_sources(target: Path) -> Path:
    for name in ("functions", "shared"):
        shutil.copytree(ROOT / name, target / name, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def test_same_tree_same_bytes_whatever_the_metadata(packages: dict[str, Package], tmp_path: Path) -> None:
    copy = _copy_repo_sources(tmp_path / "repo")
    # Other mtimes, modes and litter that must not ship: caches, compiled files, dotfiles, a tests folder.
    for index, path in enumerate(sorted(copy.rglob("*.py"))):
        os.utime(path, (1_700_000_000 + index, 1_700_000_000 + index))
        path.chmod(0o600 if index % 2 else 0o755)
    (copy / "shared" / "__pycache__").mkdir()
    (copy / "shared" / "__pycache__" / "settings.cpython-311.pyc").write_bytes(b"\0")
    (copy / "shared" / "stray.pyc").write_bytes(b"\0")
    (copy / "shared" / ".DS_Store").write_bytes(b"\0")
    (copy / "shared" / "tests").mkdir()
    (copy / "shared" / "tests" / "test_x.py").write_text("")
    for source in SOURCES:
        first = build(source, root=copy, out=tmp_path / "one")
        again = build(source, root=copy, out=tmp_path / "one")
        assert first.zip_path.read_bytes() == packages[source].zip_path.read_bytes()
        assert again.sha256 == first.sha256 == packages[source].sha256


def test_any_content_change_changes_the_hash(packages: dict[str, Package], tmp_path: Path) -> None:
    copy = _copy_repo_sources(tmp_path / "repo")
    with (copy / "shared" / "data" / "catalog.json").open("a") as catalog:
        catalog.write("\n")
    assert build("chat", root=copy, out=tmp_path / "out").sha256 != packages["chat"].sha256


def test_missing_requirements_is_an_error(tmp_path: Path) -> None:
    copy = _copy_repo_sources(tmp_path / "repo")
    (copy / "functions" / "health" / "requirements.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"requirements\.txt"):
        deployed_files("health", copy)
    with pytest.raises(ValueError, match="unknown function source"):
        build("nope", root=copy, out=tmp_path / "out")


def test_cli_prints_each_zip_with_its_digests(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["health", "keys", "--out", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    for line, source in zip(lines, ("health", "keys"), strict=True):
        data = (tmp_path / f"{source}.zip").read_bytes()
        assert f"{source}.zip" in line
        assert f"sha256={hashlib.sha256(data).hexdigest()}" in line
        assert f"md5={hashlib.md5(data, usedforsecurity=False).hexdigest()}" in line


@pytest.mark.parametrize("source", SOURCES)
def test_requirements_are_pinned_and_not_dev_only(source: str) -> None:
    names = _requirement_names((ROOT / "functions" / source / "requirements.txt").read_text())
    assert "functions-framework" in names
    assert not set(names) & DEV_ONLY
    assert [line for line in names.values() if "==" not in line] == []


def test_venv_key_ignores_comments_and_order() -> None:
    assert requirements_key("# a\nb==1\n\na==2  # why\n") == requirements_key("a==2\nb==1\n")
    assert requirements_key("a==2\n") != requirements_key("a==3\n")


@pytest.mark.parametrize("source", SOURCES)
def test_function_imports_and_serves_in_its_own_venv(packages: dict[str, Package], source: str, tmp_path: Path) -> None:
    unpacked = tmp_path / source
    with zipfile.ZipFile(packages[source].zip_path) as archive:
        archive.extractall(unpacked)
    venv = function_venv(unpacked / "requirements.txt")
    found = reach(unpacked)
    pairs: list[tuple[str, str | None]] = [*((module, None) for module in found.local), *found.outside]
    imports = sorted(pairs, key=lambda pair: (pair[0], pair[1] or ""))
    # -I: no PYTHONPATH, no user site, no script directory; cwd is the unpacked source, as in the runtime.
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-I", str(PROBE), str(unpacked), json.dumps(imports)],
        cwd=unpacked,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["registered"] == EXPECTED_ENTRY_POINTS[source]
    assert set(report["asgi"]) == set(EXPECTED_ENTRY_POINTS[source]) & EXPECTED_AIO
    assert report["apps"] == {
        target: "Starlette" if target in EXPECTED_AIO else "Flask" for target in EXPECTED_ENTRY_POINTS[source]
    }
    # Every module of shared/ the function can reach, and every outside import they make (lazy ones too),
    # is satisfied by the function's requirements alone.
    importers = {f"{module}:{name}" if name else module: sorted(by) for (module, name), by in found.importers.items()}
    assert report["missing"] == {}, {
        name: f"{problem} (imported by {', '.join(importers.get(name, ['main']))})"
        for name, problem in report["missing"].items()
    }
    assert report["foreign"] == []
    assert report["stray_paths"] == []
