"""The analytics dashboard: a static page (served by the analytics function, public) that asks for a gateway
key and draws `GET /api/ai/analytics` in the browser. The page itself holds no data and no key."""

from __future__ import annotations

from shared.dashboard.assets import DASHBOARD_PATH, STATIC_DIR, Asset, Dashboard

__all__ = ["DASHBOARD_PATH", "STATIC_DIR", "Asset", "Dashboard"]
