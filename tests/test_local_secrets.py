"""Local secrets (shared/local_secrets.py): salts generated once and reused, owner-only permissions,
atomic create-if-absent writes, and damaged files reported rather than regenerated."""

from __future__ import annotations

import base64
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.local_secrets import (
    SALT_NAMES,
    load_or_create_salt,
    private_dir,
    read_private_file,
    resolve_salt,
    salt_path,
    write_private_file,
)
from shared.settings import SettingsError


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The most permissive umask: permissions must come from the code, not from the umask."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.usefixtures("open_umask")
@pytest.mark.parametrize("name", SALT_NAMES)
def test_salt_is_generated_once_with_owner_only_permissions(tmp_path: Path, name: str) -> None:
    data_dir = tmp_path / "state"
    salt = load_or_create_salt(data_dir, name)
    assert len(base64.urlsafe_b64decode(salt + "=")) == 32
    path = salt_path(data_dir, name)
    assert path.read_text().strip() == salt
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    assert mode(data_dir) == 0o700
    assert load_or_create_salt(data_dir, name) == salt
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary files left behind


def test_the_two_salts_are_different_files_and_values(tmp_path: Path) -> None:
    hash_salt = load_or_create_salt(tmp_path, "API_KEY_HASH_SALT")
    context_salt = load_or_create_salt(tmp_path, "ENCRYPTION_CONTEXT_SALT")
    assert hash_salt != context_salt
    assert salt_path(tmp_path, "API_KEY_HASH_SALT") != salt_path(tmp_path, "ENCRYPTION_CONTEXT_SALT")


def test_salts_differ_between_data_dirs(tmp_path: Path) -> None:
    assert load_or_create_salt(tmp_path / "a", "API_KEY_HASH_SALT") != load_or_create_salt(
        tmp_path / "b", "API_KEY_HASH_SALT"
    )


def test_an_existing_data_dir_keeps_its_permissions_but_the_secrets_dir_is_narrowed(tmp_path: Path) -> None:
    data_dir = tmp_path / "shared-folder"
    data_dir.mkdir()
    os.chmod(data_dir, 0o755)
    secrets_dir = salt_path(data_dir, "API_KEY_HASH_SALT").parent
    secrets_dir.mkdir()
    os.chmod(secrets_dir, 0o755)
    load_or_create_salt(data_dir, "API_KEY_HASH_SALT")
    assert mode(data_dir) == 0o755
    assert mode(secrets_dir) == 0o700


def test_a_salt_file_with_loose_permissions_is_narrowed_on_read(tmp_path: Path) -> None:
    salt = load_or_create_salt(tmp_path, "API_KEY_HASH_SALT")
    path = salt_path(tmp_path, "API_KEY_HASH_SALT")
    os.chmod(path, 0o644)
    assert load_or_create_salt(tmp_path, "API_KEY_HASH_SALT") == salt
    assert mode(path) == 0o600


@pytest.mark.parametrize("content", ["", "short", "x" * 43 + "!", "not a salt at all, not at all, not at all!"])
def test_a_damaged_salt_file_is_an_error_not_a_new_salt(tmp_path: Path, content: str) -> None:
    path = salt_path(tmp_path, "ENCRYPTION_CONTEXT_SALT")
    load_or_create_salt(tmp_path, "ENCRYPTION_CONTEXT_SALT")
    path.write_text(content)
    with pytest.raises(SettingsError) as caught:
        load_or_create_salt(tmp_path, "ENCRYPTION_CONTEXT_SALT")
    assert caught.value.variable == "ENCRYPTION_CONTEXT_SALT"
    assert str(path) in caught.value.message
    assert "set ENCRYPTION_CONTEXT_SALT" in caught.value.message
    assert path.read_text() == content


def test_unknown_salt_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown salt"):
        load_or_create_salt(tmp_path, "../../etc/passwd")


def test_resolve_salt_prefers_the_environment_and_writes_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "state"
    assert resolve_salt("from-env", data_dir, "API_KEY_HASH_SALT") == "from-env"
    assert not data_dir.exists()
    generated = resolve_salt(None, data_dir, "API_KEY_HASH_SALT")
    assert generated == load_or_create_salt(data_dir, "API_KEY_HASH_SALT")


def test_concurrent_first_starts_agree_on_one_salt(tmp_path: Path) -> None:
    barrier = threading.Barrier(8)
    results: list[str] = []
    lock = threading.Lock()

    def start() -> None:
        barrier.wait()
        salt = load_or_create_salt(tmp_path, "API_KEY_HASH_SALT")
        with lock:
            results.append(salt)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8
    assert len(set(results)) == 1


# ------------------------------------------------------------------------------------ private files


@pytest.mark.usefixtures("open_umask")
def test_write_private_file_creates_if_absent_and_replaces_on_request(tmp_path: Path) -> None:
    path = tmp_path / "new-dir" / "record.json"
    assert write_private_file(path, "first") is True
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    assert write_private_file(path, "second") is False
    assert read_private_file(path) == "first"
    assert write_private_file(path, "third", replace=True) is True
    assert read_private_file(path) == "third"
    assert mode(path) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["record.json"]


def test_read_private_file_of_a_missing_file_is_none(tmp_path: Path) -> None:
    assert read_private_file(tmp_path / "absent") is None


def test_private_dir_only_narrows_an_existing_dir_when_told(tmp_path: Path) -> None:
    existing = tmp_path / "existing"
    existing.mkdir()
    os.chmod(existing, 0o750)
    private_dir(existing)
    assert mode(existing) == 0o750
    private_dir(existing, enforce=True)
    assert mode(existing) == 0o700
