"""Known usage events written as real segment files, and exact reference computations in pure Python."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.events.local_sink import SEGMENT_GLOB
from shared.events.schema import UsageEvent

__all__ = ["DAY0", "event", "quantile_cont", "write_segment"]

DAY0 = datetime(2026, 3, 1, tzinfo=UTC)
_seq = itertools.count()


def event(**fields: Any) -> UsageEvent:
    """A served (ok) event by default; any field may be overridden."""
    n = next(_seq)
    base: dict[str, Any] = {
        "ts": DAY0,
        "request_id": f"req-{n}",
        "tenant": "acme",
        "key_id": "key-a",
        "route": "seed",
        "provider": "OPENAI",
        "model_requested": "gpt-4o-mini",
        "model": "gpt-4o-mini",
        "status": "ok",
        "http_status": 200,
        "attempts": 1,
        "input_tokens": 10,
        "output_tokens": 5,
        "cost_micros": 100,
        "unpriced": False,
        "latency_ms": 100,
        "credential_id": "platform:abc",
    }
    return UsageEvent.model_validate({**base, **fields})


def write_segment(
    directory: Path, events: Iterable[UsageEvent], name: str = "events-1-20260301T000000000Z-000000"
) -> Path:
    """One sealed segment (JSON lines, as shared.events.local_sink writes them)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.jsonl"
    assert path.match(SEGMENT_GLOB)
    path.write_bytes(b"".join(e.to_json_bytes() + b"\n" for e in events))
    return path


def quantile_cont(values: Sequence[float], q: float) -> float | None:
    """The exact continuous quantile (linear interpolation between order statistics), as QUANTILE_CONT."""
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
