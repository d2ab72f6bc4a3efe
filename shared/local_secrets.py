"""Local-run secrets kept in the data dir: the salts generated when their variables are unset, and the
owner-only, atomic file writes that the development key's record (`shared.auth`) uses too.

In the cloud, Terraform sets `API_KEY_HASH_SALT` and `ENCRYPTION_CONTEXT_SALT`; nothing here runs there.
Locally, each salt is 32 random bytes (URL-safe base64) made at first start and reused after, so the
HMACs of gateway keys and the associated data of BYOK ciphertexts stay valid across restarts.

Layout: `<data_dir>/secrets/<name in lower case>`. The `secrets` directory is ours alone and always
0o700; the data dir is created 0o700 when we create it, but an existing one (perhaps a shared folder
the user chose) is never re-permissioned. Files are 0o600 and written atomically: written in full to a
temporary file, then linked into place. A first write never replaces a file another process created
in the meantime (two workers starting together agree on one salt); a salt file that is not what we
write is an error, never silently regenerated, since a new salt orphans every key hashed with the old.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
import tempfile
from pathlib import Path

from shared.settings import SettingsError

__all__ = [
    "SALT_NAMES",
    "load_or_create_salt",
    "private_dir",
    "read_private_file",
    "resolve_salt",
    "salt_path",
    "write_private_file",
]

SALT_NAMES = ("API_KEY_HASH_SALT", "ENCRYPTION_CONTEXT_SALT")
SECRETS_DIR = "secrets"
_SALT_BYTES = 32
# What `secrets.token_urlsafe(32)` produces: 43 URL-safe base64 characters, no padding.
_SALT_FORM = re.compile(r"[A-Za-z0-9_-]{43}")


def salt_path(data_dir: Path, name: str) -> Path:
    if name not in SALT_NAMES:
        raise ValueError(f"unknown salt {name!r}: expected one of {', '.join(SALT_NAMES)}")
    return data_dir / SECRETS_DIR / name.lower()


def load_or_create_salt(data_dir: Path, name: str) -> str:
    """The salt `name` stored under `data_dir`, generated (32 random bytes) and stored on first use."""
    path = salt_path(data_dir, name)
    private_dir(data_dir)
    private_dir(path.parent, enforce=True)
    text = read_private_file(path)
    if text is None:
        write_private_file(path, secrets.token_urlsafe(_SALT_BYTES) + "\n")
        # Read back rather than trust our own value: another process may have created it first.
        text = read_private_file(path)
    salt = (text or "").strip()
    if not _SALT_FORM.fullmatch(salt):
        raise SettingsError(
            name,
            f"the generated salt in {path} is damaged; set {name}, or delete the file to make a new one "
            "(keys and ciphertexts made with the old salt stop working)",
        )
    return salt


def resolve_salt(value: str | None, data_dir: Path, name: str) -> str:
    """The salt from the environment when set (`Settings`), else the local generated one."""
    return value if value is not None else load_or_create_salt(data_dir, name)


def private_dir(path: Path, *, enforce: bool = False) -> Path:
    """Create `path` with mode 0o700 if missing. With `enforce`, also narrow an existing one to 0o700.

    Missing ancestors are created with default permissions; only the leaf is ours to make private.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=0o700)
        created = True
    except FileExistsError:
        created = False
    # mkdir's mode passes through the umask; chmod makes it exactly 0o700.
    if (created or enforce) and stat.S_IMODE(path.stat().st_mode) != 0o700:
        os.chmod(path, 0o700)
    return path


def read_private_file(path: Path) -> str | None:
    """The file's text, or None when it does not exist. Group/other permissions are removed first."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return None
    if mode & 0o077:
        os.chmod(path, 0o600)
    return path.read_text(encoding="utf-8")


def write_private_file(path: Path, text: str, *, replace: bool = False) -> bool:
    """Write `text` to `path` atomically with mode 0o600.

    Without `replace`, an existing file is kept and False is returned (create-if-absent); otherwise the
    file is swapped in whole. Readers never see a partial file either way.
    """
    directory = private_dir(path.parent)
    fd, temp_name = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")  # mode 0o600
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(temp, path)
        else:
            try:
                # link() fails if the name exists, so a concurrent first writer is never overwritten.
                os.link(temp, path)
            except FileExistsError:
                return False
        _sync_dir(directory)
        return True
    finally:
        temp.unlink(missing_ok=True)


def _sync_dir(directory: Path) -> None:
    # Make the new name durable; some filesystems cannot fsync a directory, which only costs durability.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
