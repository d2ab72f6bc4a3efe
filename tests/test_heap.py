"""settle_heap: garbage is collected first, what is alive is frozen (no longer walked by the collector)."""

from __future__ import annotations

import gc
import weakref

from shared.heap import settle_heap


class Node:
    def __init__(self) -> None:
        self.peer: Node | None = None


def test_garbage_is_collected_and_the_living_are_frozen() -> None:
    kept = Node()
    a, b = Node(), Node()
    a.peer, b.peer = b, a  # a cycle: only the collector frees it
    dead = weakref.ref(a)
    del a, b
    before = gc.get_freeze_count()
    frozen = settle_heap()
    assert dead() is None  # collected before the freeze, not frozen with the rest
    assert frozen > before
    assert gc.get_freeze_count() > before
    assert gc.is_tracked(kept)
    assert all(o is not kept for o in gc.get_objects())  # frozen: outside every generation
