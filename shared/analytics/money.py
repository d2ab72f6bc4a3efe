"""USD as the analytics report writes it: a `Decimal` with exactly 6 decimals from integer micro-USD."""

from __future__ import annotations

from decimal import Decimal

__all__ = ["usd"]


def usd(micros: int) -> Decimal:
    """Micro-USD as USD with exactly 6 decimals."""
    return Decimal(micros).scaleb(-6).quantize(Decimal("0.000001"))
