"""The admin command (local/admin.py): create prints the key once and its id, list shows metadata only,
revoke stops the key, tenants set flips platform keys; in-process through `main(argv, environ)` and as
`python -m local.admin` in a subprocess, on the SQLite store of a temporary GATEWAY_DATA_DIR, and on the
Firestore emulator with STORE_BACKEND=firestore (a project id of its own, so nothing else is seen)."""

from __future__ import annotations

import asyncio
import io
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from local.admin import main
from shared.auth import KeyRecord, hash_key
from shared.clock import SystemClock
from shared.gateway_keys import GatewayKeyStore, TenantSettings
from shared.local_secrets import resolve_salt
from shared.settings import Settings
from shared.store import build_store
from tests.store.conftest import firestore_host

__all__ = ["firestore_host"]  # the fixture, for pytest

SALT = "admin-test-salt-0123456789"


def admin(environ: dict[str, str], *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    status = main(list(argv), environ, out=out)
    return status, out.getvalue()


def created(output: str) -> tuple[str, str]:
    key_id = re.search(r"^key_id: (gk_[a-z2-7]{12})$", output, re.M)
    key = re.search(r"^key \(shown once, stored only as its hash\): (gw_[A-Za-z0-9_-]{40})$", output, re.M)
    assert key_id is not None
    assert key is not None
    return key_id.group(1), key.group(1)


def find(environ: dict[str, str], key: str) -> KeyRecord | None:
    """What the gateway would find for `key`, read as the gateway reads it (the command runs its own loop,
    so these tests are synchronous)."""

    async def lookup() -> KeyRecord | None:
        settings = Settings.from_env(environ)
        store = build_store(settings)
        try:
            salt = resolve_salt(settings.api_key_hash_salt, settings.data_dir, "API_KEY_HASH_SALT")
            return await GatewayKeyStore(store, salt, SystemClock()).find(key)
        finally:
            await store.close()

    return asyncio.run(lookup())


def platform_keys_allowed(environ: dict[str, str], tenant: str) -> bool:
    async def read() -> bool:
        store = build_store(Settings.from_env(environ))
        try:
            return await TenantSettings(store).platform_keys_allowed(tenant)
        finally:
            await store.close()

    return asyncio.run(read())


@pytest.fixture
def environ(tmp_path: Path) -> dict[str, str]:
    return {"GATEWAY_DATA_DIR": str(tmp_path / "state"), "API_KEY_HASH_SALT": SALT}


def test_create_list_revoke(environ: dict[str, str]) -> None:
    status, output = admin(
        environ,
        "keys",
        "create",
        "--tenant",
        "app-1",
        "--user",
        "alice",
        "--scope",
        "chat",
        "--scope",
        "keys",
        "--name",
        "web",
    )
    assert status == 0
    key_id, key = created(output)
    record = find(environ, key)
    assert record is not None
    assert (record.tenant, record.user, record.scopes, record.platform) == (
        "app-1",
        "alice",
        frozenset({"chat", "keys"}),
        False,
    )

    status, output = admin(environ, "keys", "create", "--tenant", "app-2", "--platform", "--scope", "act_as_user")
    assert status == 0
    other_id, other_key = created(output)

    status, listing = admin(environ, "keys", "list")
    assert status == 0
    # Oldest first; these two were made within the same second, so the order between them is the key ids'.
    ids = sorted(line.split()[0] for line in listing.splitlines())
    assert ids == sorted([f"key_id={key_id}", f"key_id={other_id}"])
    assert "tenant=app-1  user=alice  scopes=chat,keys  platform=no  status=active" in listing
    for secret in (key, other_key, hash_key(key, SALT), hash_key(other_key, SALT), SALT):
        assert secret not in listing
    status, listing = admin(environ, "keys", "list", "--tenant", "app-2")
    assert (status, [line.split()[0] for line in listing.splitlines()]) == (0, [f"key_id={other_id}"])

    status, output = admin(environ, "keys", "revoke", key_id)
    assert (status, output.strip()) == (0, f"revoked {key_id} (instances stop accepting it within 30 s)")
    assert find(environ, key) is None
    assert find(environ, other_key) is not None
    status, listing = admin(environ, "keys", "list", "--tenant", "app-1")
    assert "status=revoked" in listing


def test_create_defaults_to_the_chat_scope(environ: dict[str, str]) -> None:
    status, output = admin(environ, "keys", "create", "--tenant", "app-1")
    assert status == 0
    created(output)
    status, listing = admin(environ, "keys", "list")
    assert "scopes=chat  platform=no" in listing


def test_revoking_an_unknown_id_fails(environ: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert admin(environ, "keys", "revoke", "gk_aaaaaaaaaaaa") == (1, "")
    assert "no gateway key with id gk_aaaaaaaaaaaa" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["keys", "create"],
        ["keys", "create", "--tenant", "a", "--scope", "root"],
        ["keys"],
        ["tenants", "set", "a", "--platform-keys", "maybe"],
        ["nothing"],
    ],
)
def test_usage_errors_exit_2(environ: dict[str, str], argv: list[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        admin(environ, *argv)
    assert caught.value.code == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["keys", "create", "--tenant", "a|b"], "tenant must be"),
        (["keys", "create", "--tenant", "a", "--user", "x/y"], "user must be"),
        (["tenants", "set", "a/b", "--platform-keys", "off"], "tenant must be"),
    ],
)
def test_bad_values_are_refused_clearly(
    environ: dict[str, str], argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert admin(environ, *argv)[0] == 1
    assert message in capsys.readouterr().err


def test_a_bad_environment_is_reported(environ: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert admin({**environ, "STORE_BACKEND": "postgres"}, "keys", "list")[0] == 1
    assert "STORE_BACKEND" in capsys.readouterr().err


def test_tenants_set_platform_keys(environ: dict[str, str]) -> None:
    assert admin(environ, "tenants", "set", "app-1", "--platform-keys", "off") == (
        0,
        "tenant app-1: platform keys not allowed\n",
    )
    assert platform_keys_allowed(environ, "app-1") is False
    assert platform_keys_allowed(environ, "app-2") is True
    assert admin(environ, "tenants", "set", "app-1", "--platform-keys", "on")[0] == 0


def test_as_a_subprocess(environ: dict[str, str]) -> None:
    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k not in ("STORE_BACKEND", "API_KEY_HASH_SALT")}
        return subprocess.run(
            [sys.executable, "-m", "local.admin", *argv],
            env={**env, "GATEWAY_DATA_DIR": environ["GATEWAY_DATA_DIR"]},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    made = run("keys", "create", "--tenant", "app-1", "--scope", "chat", "--name", "cli")
    assert made.returncode == 0, made.stderr
    key_id, key = created(made.stdout)
    listed = run("keys", "list")
    assert (listed.returncode, listed.stdout.split()[0]) == (0, f"key_id={key_id}")
    assert key not in listed.stdout
    # No API_KEY_HASH_SALT in the subprocess: the generated local salt, the one the dev server uses too.
    assert find({"GATEWAY_DATA_DIR": environ["GATEWAY_DATA_DIR"]}, key) is not None
    revoked = run("keys", "revoke", key_id)
    assert revoked.returncode == 0, revoked.stderr
    assert find({"GATEWAY_DATA_DIR": environ["GATEWAY_DATA_DIR"]}, key) is None
    again = run("keys", "revoke", "gk_nosuchkey000")
    assert again.returncode == 1
    assert "no gateway key" in again.stderr


def test_on_firestore(firestore_host: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore_host)
    environ = {
        "STORE_BACKEND": "firestore",
        "GOOGLE_CLOUD_PROJECT_ID": f"demo-admin-{uuid.uuid4().hex[:8]}",
        "API_KEY_HASH_SALT": SALT,
        "FIRESTORE_EMULATOR_HOST": firestore_host,
    }
    key_id, key = created(admin(environ, "keys", "create", "--tenant", "app-1", "--platform")[1])
    assert find(environ, key) is not None
    assert admin(environ, "keys", "list")[1].split()[0] == f"key_id={key_id}"
    assert admin(environ, "keys", "revoke", key_id)[0] == 0
    assert find(environ, key) is None
