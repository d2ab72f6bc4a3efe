"""LocalKeysetBox: a Tink keyset file made owner-only at first use and reused after."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import pytest

from shared.crypto.local_keyset import LocalKeysetBox
from shared.crypto.port import DecryptError, KeyServiceUnavailable

SECRET = b"sk-ant-0123456789abcdefghijklmnopqrstuvwxyz"
AD = b"v1|tenant=t1|user=u1|key_id=k1|provider=anthropic"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_keyset_is_made_owner_only_at_first_use(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "byok-keyset.json"
    box = LocalKeysetBox(path)
    assert not path.exists()
    sealed = await box.seal(SECRET, AD)
    assert (_mode(path), _mode(path.parent)) == (0o600, 0o700)
    assert sealed.kek_version is None
    assert await box.primary_version() is None
    assert SECRET not in sealed.ciphertext
    assert await box.open(sealed.ciphertext, AD) == SECRET


async def test_the_same_keyset_is_used_next_time(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "byok-keyset.json"
    sealed = await LocalKeysetBox(path).seal(SECRET, AD)
    text = path.read_text()
    assert await LocalKeysetBox(path).open(sealed.ciphertext, AD) == SECRET
    assert path.read_text() == text


async def test_two_boxes_starting_together_agree_on_one_keyset(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "byok-keyset.json"
    first, second = LocalKeysetBox(path), LocalKeysetBox(path)
    a, b = await asyncio.gather(first.seal(SECRET, AD), second.seal(SECRET, AD))
    assert await first.open(b.ciphertext, AD) == SECRET
    assert await second.open(a.ciphertext, AD) == SECRET


async def test_wrong_associated_data_or_tampering_does_not_open(tmp_path: Path) -> None:
    box = LocalKeysetBox(tmp_path / "keyset.json")
    sealed = await box.seal(SECRET, AD)
    with pytest.raises(DecryptError):
        await box.open(sealed.ciphertext, AD.replace(b"k1", b"k2"))
    tampered = bytearray(sealed.ciphertext)
    tampered[-1] ^= 0x01
    with pytest.raises(DecryptError):
        await box.open(bytes(tampered), AD)


async def test_another_keyset_does_not_open_it(tmp_path: Path) -> None:
    sealed = await LocalKeysetBox(tmp_path / "a.json").seal(SECRET, AD)
    with pytest.raises(DecryptError):
        await LocalKeysetBox(tmp_path / "b.json").open(sealed.ciphertext, AD)


async def test_a_damaged_keyset_is_an_error_not_replaced(tmp_path: Path) -> None:
    path = tmp_path / "keyset.json"
    path.write_text("{not a keyset")
    with pytest.raises(KeyServiceUnavailable, match="damaged"):
        await LocalKeysetBox(path).seal(SECRET, AD)
    assert path.read_text() == "{not a keyset"
