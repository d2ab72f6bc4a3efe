"""`python -m local.admin`: the operator's command for gateway keys and tenant switches.

    keys create --tenant T [--user U] [--scope S ...] [--platform] [--name N]
    keys list [--tenant T]
    keys revoke KEY_ID
    tenants set T --platform-keys on|off
    analytics rollup [--day YYYY-MM-DD | --days N]

It reads the same environment as the gateway (`Settings.from_env`): STORE_BACKEND picks the document
store (the SQLite file in GATEWAY_DATA_DIR, or Firestore), API_KEY_HASH_SALT the salt (else the local
generated one, as the dev server does). `keys create` prints the new key once; nothing else ever prints
a key or a hash. Instances notice a revocation within their key cache's TTL (30 s).

`analytics rollup` rolls up whole UTC days of usage events (shared.analytics.rollup_job) on the backend of
ANALYTICS_BACKEND: by default the last 3 complete days, else one `--day` (before today) or the last `--days`
N; re-running a day replaces its rollup. Embedded, it writes GATEWAY_DATA_DIR/analytics/rollups.duckdb.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping, Sequence
from typing import TextIO

from shared.analytics.port import AnalyticsUnavailable
from shared.analytics.rollup import MAX_DAYS
from shared.analytics.rollup_job import rollup_from_env
from shared.clock import SystemClock
from shared.gateway_keys import GatewayKey, GatewayKeyStore, TenantSettings
from shared.identity import SCOPES
from shared.keys_ring import DEFAULT_KEY_CACHE_TTL
from shared.local_secrets import resolve_salt
from shared.settings import Settings, SettingsError
from shared.store import DocumentStore, StoreUnavailable, build_store

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m local.admin", description="Manage gateway keys and tenants; roll up analytics."
    )
    groups = parser.add_subparsers(dest="group", required=True)

    keys = groups.add_parser("keys", help="gateway keys").add_subparsers(dest="action", required=True)
    create = keys.add_parser("create", help="create a key and print it once")
    create.add_argument("--tenant", required=True)
    create.add_argument("--user", default=None, help="bind the key to one user of the tenant")
    create.add_argument(
        "--scope",
        action="append",
        choices=sorted(SCOPES),
        dest="scopes",
        help="repeat for several (default: chat)",
    )
    create.add_argument("--platform", action="store_true", help="a platform key (with act_as_user: may send X-User-Id)")
    create.add_argument("--name", default="", help="a label for people")
    listing = keys.add_parser("list", help="list keys (metadata only)")
    listing.add_argument("--tenant", default=None)
    revoke = keys.add_parser("revoke", help="revoke a key by its key id")
    revoke.add_argument("key_id")

    tenants = groups.add_parser("tenants", help="tenant settings").add_subparsers(dest="action", required=True)
    switch = tenants.add_parser("set", help="change a tenant's settings")
    switch.add_argument("tenant")
    switch.add_argument(
        "--platform-keys", choices=("on", "off"), required=True, help="may the tenant's calls use platform keys"
    )

    analytics = groups.add_parser("analytics", help="usage analytics").add_subparsers(dest="action", required=True)
    rollup = analytics.add_parser("rollup", help="roll up whole UTC days of usage events (default: the last 3)")
    which = rollup.add_mutually_exclusive_group()
    which.add_argument("--day", default=None, help="one day, YYYY-MM-DD, before today (UTC)")
    which.add_argument("--days", type=int, default=None, help=f"the last N complete days (1 to {MAX_DAYS})")
    return parser


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None, out: TextIO | None = None) -> int:
    """Run one command; the exit status (0 done, 1 not found or refused, 2 usage)."""
    args = _parser().parse_args(argv)
    out = out or sys.stdout
    environ = os.environ if environ is None else environ
    if args.group == "analytics":
        return _rollup(args, environ, out)
    try:
        settings = Settings.from_env(environ)
        salt = resolve_salt(settings.api_key_hash_salt, settings.data_dir, "API_KEY_HASH_SALT")
        return asyncio.run(_run(args, build_store(settings), salt, out))
    except (SettingsError, ValueError, StoreUnavailable) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


async def _run(args: argparse.Namespace, store: DocumentStore, salt: str, out: TextIO) -> int:
    try:
        keys = GatewayKeyStore(store, salt, SystemClock())
        if args.group == "tenants":
            allowed = args.platform_keys == "on"
            await TenantSettings(store).set_platform_keys(args.tenant, allowed)
            print(f"tenant {args.tenant}: platform keys {'allowed' if allowed else 'not allowed'}", file=out)
            return 0
        if args.action == "create":
            meta, key = await keys.create(
                args.tenant,
                user=args.user,
                scopes=frozenset(args.scopes or ["chat"]),
                platform=args.platform,
                name=args.name,
            )
            print(f"key_id: {meta.key_id}", file=out)
            print(f"key (shown once, stored only as its hash): {key}", file=out)
            return 0
        if args.action == "list":
            for meta in await keys.list(args.tenant):
                print(_line(meta), file=out)
            return 0
        if await keys.revoke(args.key_id):
            print(f"revoked {args.key_id} (instances stop accepting it within {DEFAULT_KEY_CACHE_TTL:g} s)", file=out)
            return 0
        print(f"error: no gateway key with id {args.key_id}", file=sys.stderr)
        return 1
    finally:
        await store.close()


def _rollup(args: argparse.Namespace, environ: Mapping[str, str], out: TextIO) -> int:
    try:
        rolled = rollup_from_env(environ, day=args.day, days=args.days)
    except (SettingsError, ValueError, AnalyticsUnavailable) as error:  # RollupRequestError is a ValueError
        print(f"error: {error}", file=sys.stderr)
        return 1
    for day in rolled:
        print(f"rolled {day.day.isoformat()}: {day.events} events", file=out)
    return 0


def _line(meta: GatewayKey) -> str:
    fields = {
        "key_id": meta.key_id,
        "tenant": meta.tenant,
        "user": meta.user or "-",
        "scopes": ",".join(sorted(meta.scopes)) or "-",
        "platform": "yes" if meta.platform else "no",
        "status": meta.status,
        "created": meta.created_at,
        "revoked": meta.revoked_at or "-",
        "name": meta.name or "-",
    }
    return "  ".join(f"{name}={value}" for name, value in fields.items())


if __name__ == "__main__":
    raise SystemExit(main())
