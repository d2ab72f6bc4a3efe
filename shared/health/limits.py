"""The limits component of health: how usage limits (shared.limits) are being enforced, in a word and a sentence.

The chat instances' ledger (shared.api.deps `build_limiter`) is on Redis exactly when `REDIS_URL` is set,
the same URL the cache uses; so the Redis `PING` health already makes for the cache (shared.health.probes)
tells the mode, without a second connection:

- `embedded`: no Redis. Each instance enforces the limits in its own in-process ledger: exact for the
  requests that instance serves, not summed across instances.
- `shared`: Redis answers. Every instance reserves on the same Redis counters, atomically.
- `degraded`: Redis is configured and does not answer. The chat instances fail open within a local bound:
  each admits at most 1/N of every limit (N the expected instance count, `RedisLedger(instances=N)`) until
  Redis is back. A degraded status, not a down one: requests are still limited, only less exactly.

What health sees is its own ping: a chat instance whose calls to Redis fail while health's ping succeeds (or
the reverse) is in the other mode until its own next call; the two agree within the ping's interval.
"""

from __future__ import annotations

from shared.health.facts import LimitsFact, Reachability

__all__ = ["describe", "limits_fact"]


def limits_fact(*, redis: bool, ping: Reachability, instances: int | None = None) -> LimitsFact:
    """The mode from whether Redis is configured (`redis`) and its ping; `instances`: N, when known."""
    if not redis:
        return LimitsFact("embedded", instances)
    return LimitsFact("shared" if ping.ok else "degraded", instances)


def describe(fact: LimitsFact) -> str:
    """The mode in words, for operators reading the health report."""
    if fact.mode == "embedded":
        return (
            "enforced in process by each instance (no REDIS_URL): exact for the requests an instance serves, "
            "not shared across instances"
        )
    if fact.mode == "shared":
        return "enforced on Redis, atomically across every instance"
    share = "1/N" if fact.instances is None else f"1/{fact.instances}"
    n = "N the expected instance count" if fact.instances is None else f"{fact.instances} expected instances"
    return (
        f"Redis is unreachable: limits fail open within a local bound, each instance admitting at most {share} "
        f"of every limit ({n}) until Redis answers again"
    )
