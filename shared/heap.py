"""Keep the garbage collector's full collections short: what an instance builds at start is frozen.

A full (generation 2) collection walks every tracked object that survived two collections: the catalog,
pydantic's schemas, the clients, the routing memos, everything built once per instance. Measured under
16 concurrent in-process requests (`/tmp` profile of issue 9, noted in bench/results/compare.md), such a
collection took about 60 ms and ran every ~1,300 requests: a pause of the whole event loop that every
request in flight waits out, and the gateway's p99 at concurrency 16. `gc.freeze()` moves every object
alive at that moment to a permanent generation the collector no longer walks; later collections see only
what was allocated since (per-request objects, which die young), and took about 3 ms in the same run.

Called once per process, right after the dependencies are built (the dev server at start, a Cloud
Function instance on its first request). Frozen objects are never collected: only objects that live as
long as the process should exist then, which is what the build leaves behind (a collection runs first, so
garbage made while building is not frozen).
"""

from __future__ import annotations

import gc

__all__ = ["settle_heap"]


def settle_heap() -> int:
    """Collect, then freeze what is left; returns how many objects are now frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
