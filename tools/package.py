"""Packages each Cloud Function's deployable source: `build/<source>/` and a deterministic `build/<source>.zip`.

A function's source is its `functions/<source>/main.py` and `requirements.txt` at the root, beside a copy of
the `shared/` package (without caches, tests or dotfiles). Terraform names each uploaded object after the zip's
content hash, so a zip must depend on the tree's contents only: entries are sorted, every entry gets the same
timestamp and permissions, and nothing machine-specific (mtime, owner, umask, directory order) gets in. The
same tree gives the same bytes with the same zlib, which is all the object name needs (Cloud Build packages
and uploads in one build).

    python -m tools.package [SOURCE ...] [--out DIR]    # or: python tools/package.py; default: every source

Standard library only, so Cloud Build can run it on a bare Python image.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ROOT", "SOURCES", "ZIP_DATE_TIME", "Package", "build", "deployed_files", "main", "write_zip"]

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("analytics", "chat", "health", "keys")
# The earliest time a zip entry can carry (DOS dates start in 1980).
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)
# rw-r--r-- regular files; the runtime only reads the source.
_ENTRY_MODE = 0o100644
# Never deployed: caches, compiled files, test folders, editor and OS litter.
_SKIPPED_DIRS = frozenset({"__pycache__", "tests", "test"})
_SKIPPED_SUFFIXES = (".pyc", ".pyo")
_FUNCTION_FILES = ("main.py", "requirements.txt")


@dataclass(frozen=True)
class Package:
    """One built function source: its directory, its zip and the zip's digests (md5 is what `filemd5` gives)."""

    source: str
    directory: Path
    zip_path: Path
    files: int
    sha256: str
    md5: str


def _shared_files(shared: Path) -> Iterator[Path]:
    for directory, dirnames, filenames in os.walk(shared):
        dirnames[:] = [name for name in dirnames if name not in _SKIPPED_DIRS and not name.startswith(".")]
        for name in filenames:
            if name.startswith(".") or name.endswith(_SKIPPED_SUFFIXES):
                continue
            path = Path(directory, name)
            if path.is_file():
                yield path


def deployed_files(source: str, root: Path = ROOT) -> dict[str, Path]:
    """Archive name (POSIX, relative to the function's source root) -> the repo file it comes from, sorted."""
    function_dir = root / "functions" / source
    files: dict[str, Path] = {}
    for name in _FUNCTION_FILES:
        path = function_dir / name
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: every function needs {' and '.join(_FUNCTION_FILES)}")
        files[name] = path
    for path in _shared_files(root / "shared"):
        files[path.relative_to(root).as_posix()] = path
    return dict(sorted(files.items()))


def write_zip(files: dict[str, Path], zip_path: Path) -> None:
    """Writes `files` (archive name -> file) to `zip_path` with sorted entries and fixed metadata."""
    partial = zip_path.with_name(zip_path.name + ".partial")
    with zipfile.ZipFile(partial, "w") as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, so that external_attr carries the mode below
            info.external_attr = _ENTRY_MODE << 16
            archive.writestr(info, files[name].read_bytes(), compresslevel=9)
    partial.replace(zip_path)


def _digests(path: Path) -> tuple[str, str]:
    sha256, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 16), b""):
            sha256.update(chunk)
            md5.update(chunk)
    return sha256.hexdigest(), md5.hexdigest()


def build(source: str, root: Path = ROOT, out: Path | None = None) -> Package:
    """Builds `<out>/<source>/` (a fresh copy) and `<out>/<source>.zip` from the repo at `root`."""
    if source not in SOURCES:
        raise ValueError(f"unknown function source {source!r}; one of {', '.join(SOURCES)}")
    out = root / "build" if out is None else out
    files = deployed_files(source, root)
    directory = out / source
    shutil.rmtree(directory, ignore_errors=True)
    for name, path in files.items():
        target = directory / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    zip_path = out / f"{source}.zip"
    write_zip({name: directory / name for name in files}, zip_path)
    sha256, md5 = _digests(zip_path)
    return Package(source, directory, zip_path, len(files), sha256, md5)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.package", description=__doc__.split("\n\n")[0])
    parser.add_argument("sources", nargs="*", metavar="SOURCE", help=f"{', '.join(SOURCES)} (default: all)")
    parser.add_argument("--out", type=Path, default=ROOT / "build", help="output directory (build/)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.sources) - set(SOURCES))
    if unknown:
        parser.error(f"unknown source(s) {', '.join(unknown)}; choose from {', '.join(SOURCES)}")
    for source in args.sources or SOURCES:
        package = build(source, out=args.out)
        shown = os.path.relpath(package.zip_path)
        print(f"{shown}  {package.files} files  sha256={package.sha256}  md5={package.md5}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
