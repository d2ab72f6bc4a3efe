"""The load balancer's path map (terraform/lb.tf): every public route of every HTTP function, and every
prefix issue 8 names, reaches the function that serves it, with the path kept (no rewrite).

Routes come from the apps themselves (the same `Route` lists the functions dispatch on), so a new
route without a path rule fails here. Matching follows the URL map's rules: an exact path, or a prefix
pattern ending in `/*`; the longest match wins.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from starlette.routing import Route

from shared.api.analytics import AnalyticsApi
from shared.api.chat import ChatApi
from shared.api.health import HealthApi
from shared.api.keys import KeysApi
from tests.terraform.hcl import block, config, ref

# Issue 8: the prefixes the entry point maps, with a sample path under each.
ISSUE_PREFIXES = {
    "/api/ai/chat": "chat",
    "/v1/chat/completions": "chat",
    "/v1/models": "chat",
    "/v1/anything/else": "chat",
    "/api/ai/analytics": "analytics",
    "/api/ai/analytics/costs": "analytics",
    "/api/ai/dashboard": "analytics",
    "/api/ai/dashboard/app.js": "analytics",
    "/api/ai/health": "health",
    "/api/ai/keys": "keys",
    "/api/ai/keys/pk_1/rotate": "keys",
    "/api/ai/limits": "keys",  # issue 11: the keys function serves PUT/GET /api/ai/limits
    "/api/ai/limits/tenant": "keys",
}


async def _never() -> Any:
    raise AssertionError("the route table is read, never served, here")


def app_routes() -> dict[str, list[Route]]:
    """Function -> the routes its app serves."""
    return {
        "chat": list(ChatApi(_never).routes),
        "analytics": [r for r in AnalyticsApi(_never).table.routes if isinstance(r, Route)],
        "health": [r for r in HealthApi(_never).table.routes if isinstance(r, Route)],
        "keys": [r for r in KeysApi(_never).table.routes if isinstance(r, Route)],
    }


def path_rules() -> dict[str, str]:
    """Path pattern -> function, from the URL map's dynamic path rules over local.lb_routes."""
    cfg = config()
    url_map = cfg.resource("google_compute_url_map", "lb")
    matcher = block(url_map, "path_matcher")
    rule = block(matcher, "path_rule")
    assert rule["paths"] == "${path_rule.value}"
    assert rule["service"] == "${google_compute_backend_service.function[path_rule.key].id}"
    assert "route_rules" not in matcher
    assert "url_rewrite" not in str(url_map)
    table: dict[str, list[str]] = cfg.locals["lb_routes"]
    rules: dict[str, str] = {}
    for function, patterns in table.items():
        for pattern in patterns:
            assert pattern not in rules, f"{pattern} is mapped twice"
            assert pattern.startswith("/"), pattern
            assert "*" not in pattern or pattern.endswith("/*"), pattern
            rules[pattern] = function
    return rules


def route_for(path: str) -> str:
    """The function the URL map sends `path` to."""
    cfg = config()
    best: tuple[int, str] | None = None
    for pattern, function in path_rules().items():
        matched = path.startswith(pattern[:-1]) if pattern.endswith("/*") else path == pattern
        if matched and (best is None or len(pattern) > best[0]):
            best = (len(pattern), function)
    if best is not None:
        return best[1]
    default = block(cfg.resource("google_compute_url_map", "lb"), "path_matcher")["default_service"]
    assert default == "${google_compute_backend_service.function[local.lb_default_function].id}"
    return str(cfg.locals["lb_default_function"])


def _sample(path: str) -> str:
    """A concrete path for a Starlette route pattern ({key_id} -> a value, {name:path} -> a/b)."""
    return re.sub(r"\{[^}:]+(:path)?\}", lambda m: "a/b.js" if m.group(1) else "x1", path)


@pytest.mark.parametrize(("function", "route"), [(f, r) for f, rs in app_routes().items() for r in rs])
def test_every_public_route_reaches_its_function(function: str, route: Route) -> None:
    assert route_for(_sample(route.path)) == function


@pytest.mark.parametrize(("path", "function"), sorted(ISSUE_PREFIXES.items()))
def test_the_issue_prefixes_are_mapped(path: str, function: str) -> None:
    assert route_for(path) == function


def test_every_http_function_has_a_backend_and_nothing_else_does() -> None:
    cfg = config()
    assert set(cfg.locals["lb_routes"]) == {n for n, f in cfg.locals["functions"].items() if f["http"]}
    neg = cfg.resource("google_compute_region_network_endpoint_group", "function")
    assert neg["for_each"] == "${local.lb_functions}"
    assert neg["network_endpoint_type"] == "SERVERLESS"
    name, index = ref(block(neg, "cloud_run")["service"], "google_cloudfunctions2_function")
    assert (name, index) == ("http", "each.key")
    assert cfg.locals["lb_functions"] == "${var.load_balancer_enabled ? local.http_functions : {}}"


def test_https_only_with_a_modern_tls_policy() -> None:
    cfg = config()
    rule = cfg.resource("google_compute_global_forwarding_rule", "https")
    assert rule["port_range"] == "443"
    assert rule["load_balancing_scheme"] == "EXTERNAL_MANAGED"
    assert len(cfg.of_type("google_compute_global_forwarding_rule")) == 1
    policy = cfg.resource("google_compute_ssl_policy", "lb")
    assert policy["min_tls_version"] == "TLS_1_2"
    assert policy["profile"] in ("MODERN", "RESTRICTED")
    # On by default, off by variable: every load balancer resource hangs on the one switch.
    assert cfg.variables["load_balancer_enabled"]["default"] is True
    for (rtype, name), body in cfg.resources.items():
        if rtype.startswith("google_compute_") and rtype not in (
            "google_compute_network",
            "google_compute_subnetwork",
            "google_compute_firewall",
        ):
            switch = body.get("count", body.get("for_each"))
            assert switch in ("${local.lb_enabled}", "${local.lb_functions}"), (rtype, name)
