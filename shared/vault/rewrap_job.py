"""Running the re-wrap job from an environment: the Cloud Function `keys_rewrap` and the operator command.

    python -m shared.vault.rewrap_job      # prints the report; exit status 1 when a key failed

Builds what `shared.vault.rewrap` needs as the keys API does (shared.api.keys_deps): settings parsed once,
the document store, the SecretBox of KMS_BACKEND, the ENCRYPTION_CONTEXT_SALT (or the local generated
one) and the audit sink of EVENTS_BACKEND (segment files, or the audit topic on Pub/Sub: a Cloud Function's
local files would vanish with its instance); closes the store and the sink at the end.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Mapping

from shared.clock import Clock, SystemClock
from shared.crypto.factory import build_secret_box
from shared.local_secrets import resolve_salt
from shared.settings import Settings
from shared.store import build_store
from shared.vault.build import build_audit_sink
from shared.vault.rewrap import RewrapReport, rewrap

__all__ = ["rewrap_from_env", "run_rewrap_from_env"]

_log = logging.getLogger(__name__)


async def rewrap_from_env(
    environ: Mapping[str, str], *, trigger: str = "operator", clock: Clock | None = None
) -> RewrapReport:
    """One run of the job, configured by `environ`; `trigger` (what started it) is only logged."""
    settings = Settings.from_env(environ)
    clock = clock or SystemClock()
    box = build_secret_box(settings)
    salt = resolve_salt(settings.encryption_context_salt, settings.data_dir, "ENCRYPTION_CONTEXT_SALT")
    store = build_store(settings)
    audit = build_audit_sink(settings, clock)
    _log.info("rewrap: started by %s", trigger)
    try:
        return await rewrap(store, box, salt, clock, audit)
    finally:
        await audit.close()
        await store.close()


def run_rewrap_from_env(environ: Mapping[str, str], *, trigger: str = "operator") -> RewrapReport:
    """`rewrap_from_env` for callers without an event loop (the CloudEvent function, the command)."""
    return asyncio.run(rewrap_from_env(environ, trigger=trigger))


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    report = run_rewrap_from_env(os.environ)
    sys.stdout.write(report.summary() + "\n")
    return 1 if report.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
