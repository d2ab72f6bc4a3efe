"""A fresh virtual environment per distinct function requirements set, as the Cloud Functions build makes one:
`pip install -r requirements.txt` and nothing else (no constraints file, no repo on the path).

Built once under `.venv-fn-<hash of the normalized requirements>` in the repo (git-ignored) and reused
across runs: a stamp written last marks a complete install, and a lock file keeps two test sessions from
building the same one at the same time. pip's own cache makes a rebuild cheap after a requirements change.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

from tools.package import ROOT

__all__ = ["function_venv", "requirements_key"]

_STAMP = ".installed"


def requirements_key(text: str) -> str:
    """The same key for the same requirements, whatever their comments, blank lines or order."""
    lines = sorted({line.split("#", 1)[0].strip() for line in text.splitlines()} - {""})
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:12]


def function_venv(requirements: Path, root: Path = ROOT) -> Path:
    """The venv's directory, with exactly `requirements` installed (built now unless already complete)."""
    venv = root / f".venv-fn-{requirements_key(requirements.read_text())}"
    with (root / f"{venv.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (venv / _STAMP).is_file():
            return venv
        shutil.rmtree(venv, ignore_errors=True)
        # The interpreter of the tests (the project's Python 3.11, the functions' runtime `python311`); from a
        # venv, `-m venv` bases the new one on the base interpreter, so nothing of .venv leaks in.
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        install = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*install, "-r", str(requirements)], check=True)
        (venv / _STAMP).write_text(requirements.read_text())
        return venv
