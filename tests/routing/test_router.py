from __future__ import annotations

from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.catalog import Catalog, default_catalog
from shared.chat_types import ChatOptions
from shared.cost import estimate_cost
from shared.model_names import ResolvedModel, resolve_model
from shared.routing.config import RouterConfig
from shared.routing.latency import LatencyView
from shared.routing.needs import RequestNeeds, unmet
from shared.routing.router import UNKNOWN_TTFT_S, Exclusion, RoutePlan, Router, estimate_for
from shared.unified import ChatRequest, ImagePart, Message, ResponseFormat, TextPart, Tool
from tests.routing import TODAY, FakeClock, catalog, chat, prices, resolved, row
from tests.routing.test_latency import FakeMetrics

REAL = default_catalog()


def router(cat: Catalog = REAL, *, today: date = TODAY, latency: LatencyView | None = None, **config: object) -> Router:
    return Router(cat, RouterConfig(**config), latency=latency, today=lambda: today)  # type: ignore[arg-type]


def plan(
    model: str, request: ChatRequest | None = None, options: ChatOptions | None = None, **config: object
) -> RoutePlan:
    r = router(**config)  # type: ignore[arg-type]
    return r.plan(request or chat(model), resolve_model(model, REAL), options)


def models(p: RoutePlan) -> list[str]:
    return [route.model for route in p.routes]


# --- the packaged catalog ---


def test_gpt4_goes_to_the_cheapest_equivalent_that_fits() -> None:
    request = chat("gpt-4", "Analyze this data...")
    p = plan("gpt-4", request, performance_weighting=0.0)
    needs = RequestNeeds.of(request)
    gpt4 = REAL["gpt-4"]
    fitting = [
        m
        for m in REAL
        if m.equivalence_class == "frontier"
        and m.tier is not None
        and m.chat_completions
        and not m.is_retired(TODAY)
        and unmet(m, needs) is None
    ]
    cheapest = min(fitting, key=lambda m: estimate_cost(needs.prompt_tokens, 4096, m).micros or 0)
    first = p.routes[0]
    assert first.model == cheapest.id
    assert first.reason == "cheapest"
    assert first.price_usd is not None
    assert gpt4 is not None
    assert first.price_usd < float(estimate_cost(needs.prompt_tokens, 4096, gpt4).usd or 0)
    assert [r.reason for r in p.routes[1:]] == ["fallback"] * (len(p.routes) - 1)
    assert len(p.routes) == 3


def test_default_weighting_on_gpt4() -> None:
    p = plan("gpt-4")
    assert models(p) == ["gpt-4.1", "gpt-4o", "claude-sonnet-4-5-20250929"]
    scores = [r.score for r in p.routes]
    assert scores == sorted(scores)
    assert p.routes[0].score == pytest.approx(1.0)  # cheapest and fastest
    assert p.routes[0].latency_s == pytest.approx(0.6)  # the catalog default, nothing measured


def test_optimization_and_fallback_off_is_only_the_named_model() -> None:
    p = plan("gpt-4", options=ChatOptions(cost_optimization=False, fallback=False))
    assert models(p) == ["gpt-4"]
    assert p.routes[0].reason == "requested"
    assert not p.policy.cost_optimization
    assert not p.policy.fallback


def test_fallback_off_keeps_only_the_cheapest() -> None:
    p = plan("gpt-4", options=ChatOptions(fallback=False))
    assert models(p) == ["gpt-4.1"]


def test_optimization_off_puts_the_named_model_first_then_fallbacks_by_score() -> None:
    p = plan("gpt-4", cost_optimization=False)
    assert models(p) == ["gpt-4", "gpt-4.1", "gpt-4o"]
    assert [r.reason for r in p.routes] == ["requested", "fallback", "fallback"]


def test_retired_models_are_never_substitutes_but_are_tried_when_named() -> None:
    p = plan("gpt-4", max_candidates=20)
    assert all(r.entry is not None and not r.entry.is_retired(TODAY) for r in p.routes)
    assert "claude-sonnet-4-20250514" not in models(p)  # retired 2026-06-15
    named = plan("claude-sonnet-4", options=ChatOptions(cost_optimization=False))
    assert named.routes[0].model == "claude-sonnet-4-20250514"
    assert named.routes[0].reason == "requested"
    assert all(not r.entry.is_retired(TODAY) for r in named.routes[1:] if r.entry is not None)


def test_a_router_kept_across_a_retirement_date_stops_offering_the_retired_substitute() -> None:
    # One router lives as long as its instance: what it remembers of a request must not outlive the day.
    retiring = row("old", "anthropic", prices=prices("0.5", "1"), retired="2026-07-02", retired_source="test")
    cat = catalog(row("m"), retiring)
    day = [TODAY]
    r = Router(cat, RouterConfig(), today=lambda: day[0])
    request = chat("m")
    assert [x.model for x in r.plan(request, resolved(cat["m"]), None).routes] == ["old", "m"]
    day[0] = date(2026, 7, 2)
    assert [x.model for x in r.plan(request, resolved(cat["m"]), None).routes] == ["m"]
    assert r.candidate_pairs(request, resolved(cat["m"])) == [("openai", "m")]


def test_a_named_model_lacking_a_feature_is_still_tried() -> None:
    request = chat("o1-mini", tools=(Tool(name="f"),))
    p = plan("o1-mini", request, options=ChatOptions(cost_optimization=False), max_candidates=20)
    assert p.routes[0].model == "o1-mini"
    assert all(r.entry is not None and r.entry.features.tools for r in p.routes[1:])


def test_unavailable_routes_are_excluded_with_their_reason() -> None:
    def unavailable(provider: str, model: str) -> str | None:
        if provider == "anthropic":
            return "no_credential"
        return "breaker_open" if model == "gpt-4.1" else None

    r = router(max_candidates=20)
    p = r.plan(chat("gpt-4"), resolve_model("gpt-4", REAL), None, unavailable=unavailable)
    assert "gpt-4.1" not in models(p)
    assert all(route.provider != "anthropic" for route in p.routes)
    assert Exclusion("openai", "gpt-4.1", "breaker_open") in p.excluded
    assert Exclusion("anthropic", "claude-sonnet-4-5-20250929", "no_credential") in p.excluded
    assert p.routes[0].model == "gpt-4o"


def test_an_unavailable_named_model_leaves_the_best_substitute_as_a_fallback() -> None:
    r = router(cost_optimization=False)
    p = r.plan(
        chat("gpt-4"), resolve_model("gpt-4", REAL), None, unavailable=lambda p, m: "x" if m == "gpt-4" else None
    )
    assert models(p)[0] == "gpt-4.1"
    assert p.routes[0].reason == "fallback"
    assert Exclusion("openai", "gpt-4", "x") in p.excluded


def test_both_switches_off_pin_the_named_model_even_when_it_is_unavailable() -> None:
    # Substitutes would only ever be fallbacks: with fallback off, an open breaker on the named model
    # leaves nothing to try (the service answers 503), never a substitute.
    r = router(cost_optimization=False, fallback_enabled=False)
    p = r.plan(chat("gpt-4"), resolve_model("gpt-4", REAL), None, unavailable=lambda p, m: "breaker_open")
    assert p.routes == ()
    assert p.excluded == (Exclusion("openai", "gpt-4", "breaker_open"),)


def test_everything_unavailable_gives_an_empty_plan() -> None:
    r = router()
    p = r.plan(chat("gpt-4"), resolve_model("gpt-4", REAL), None, unavailable=lambda p, m: "breaker_open")
    assert p.routes == ()
    assert {e.reason for e in p.excluded} == {"breaker_open"}


def test_preferred_provider_goes_first() -> None:
    p = plan("gpt-4", options=ChatOptions(preferred_provider="gemini"))
    assert models(p)[0] == "gemini-2.5-pro"
    assert p.routes[0].reason == "preferred"
    assert [r.reason for r in p.routes[1:]] == ["fallback", "fallback"]
    # Already first: no move, the usual reason.
    assert plan("gpt-4", options=ChatOptions(preferred_provider="openai")).routes[0].reason == "cheapest"
    # No route of that provider: ignored.
    unknown = plan("gpt-4", options=ChatOptions(preferred_provider="mistral"))
    assert models(unknown) == models(plan("gpt-4"))


def test_preferred_provider_with_optimization_off() -> None:
    p = plan("gpt-4", options=ChatOptions(preferred_provider="anthropic", cost_optimization=False))
    assert models(p)[:2] == ["claude-sonnet-4-5-20250929", "gpt-4"]
    assert p.routes[0].reason == "preferred"


@pytest.mark.parametrize("cap", [1, 2, 3, 5, 20])
def test_max_candidates_caps_the_plan(cap: int) -> None:
    p = plan("gpt-4", max_candidates=cap)
    assert len(p.routes) == min(cap, 8)  # gpt-4 and its 7 current equivalents on TODAY


def test_vision_exclusion() -> None:
    image = Message(role="user", content=(TextPart("what is it?"), ImagePart("https://example.com/x.png")))
    request = ChatRequest(model="claude-3-haiku", messages=(image,))
    p = plan("claude-3-haiku", request, max_candidates=20)
    assert Exclusion("openai", "gpt-3.5-turbo", "vision") in p.excluded
    assert "gpt-3.5-turbo" not in models(p)


def test_sampling_exclusion_for_reasoning_models() -> None:
    p = plan("o1", chat("o1", stop=("END",)), max_candidates=20)
    assert "o3-mini" in models(p)
    assert Exclusion("openai", "o3", "sampling:stop") in p.excluded
    assert Exclusion("openai", "gpt-5", "sampling:stop") in p.excluded


def test_top_k_excludes_openai_substitutes() -> None:
    p = plan("gpt-4o", chat("gpt-4o", top_k=40), max_candidates=20)
    assert p.routes
    assert all(r.provider != "openai" or r.model == "gpt-4o" for r in p.routes)
    assert Exclusion("openai", "gpt-4.1", "sampling:top_k") in p.excluded


def test_context_exclusion() -> None:
    request = chat("claude-3-haiku", "word " * 80_000)  # ~100k estimated tokens: more than gpt-3.5-turbo's 16k
    p = plan("claude-3-haiku", request, max_candidates=20)
    assert Exclusion("openai", "gpt-3.5-turbo", "context") in p.excluded


def test_max_output_exclusion() -> None:
    p = plan("claude-3-haiku", chat("claude-3-haiku", max_tokens=8000), max_candidates=20)
    assert Exclusion("openai", "gpt-3.5-turbo", "max_output") in p.excluded
    # The named model (max output 4096) is still tried: the provider decides.
    assert "claude-3-haiku-20240307" in models(p)


def test_json_mode_on_the_real_catalog_keeps_only_json_substitutes() -> None:
    request = chat("gpt-4", response_format=ResponseFormat(type="json_object"))
    p = plan("gpt-4", request, max_candidates=20, cost_optimization=False)
    assert p.routes[0].model == "gpt-4"  # no JSON mode, but named
    assert all(r.entry is not None and r.entry.features.json_mode for r in p.routes[1:])


def test_unpriced_model_is_alone() -> None:
    r = router()
    target = ResolvedModel(provider="openai", model="gpt-9-preview", entry=None)
    p = r.plan(chat("gpt-9-preview"), target, None)
    assert len(p.routes) == 1
    route = p.routes[0]
    assert (route.provider, route.model, route.reason) == ("openai", "gpt-9-preview", "requested")
    assert route.price_usd is None
    assert route.latency_s == UNKNOWN_TTFT_S
    assert route.score == 1.0
    assert r.candidate_pairs(chat("gpt-9-preview"), target) == [("openai", "gpt-9-preview")]


def test_a_model_without_class_is_alone() -> None:
    p = plan("gpt-5.2")
    assert models(p) == ["gpt-5.2"]
    assert p.routes[0].reason == "requested"
    assert p.routes[0].price_usd is not None


def test_candidate_pairs_are_the_requested_model_and_fitting_equivalents() -> None:
    r = router()
    pairs = r.candidate_pairs(chat("gpt-4o", top_k=3), resolve_model("gpt-4o", REAL))
    assert pairs[0] == ("openai", "gpt-4o")
    assert all(p == "gemini" or p == "anthropic" for p, _ in pairs[1:])
    assert len(set(pairs)) == len(pairs)


# --- hand-made catalogs ---


def test_tools_never_route_to_a_model_without_tools() -> None:
    cat = catalog(
        row("asked", prices=prices("10", "20")),
        row("cheap-no-tools", prices=prices("0.1", "0.2"), features={"tools": False}),
        row("dear-tools", "gemini", prices=prices("5", "10")),
    )
    request = chat("asked", tools=(Tool(name="f"),))
    p = router(cat, max_candidates=20).plan(request, resolved(cat["asked"]), None)
    assert models(p) == ["dear-tools", "asked"]
    assert Exclusion("openai", "cheap-no-tools", "tools") in p.excluded
    # Without tools the cheap model wins.
    assert models(router(cat).plan(chat("asked"), resolved(cat["asked"]), None))[0] == "cheap-no-tools"


def test_json_mode_exclusion() -> None:
    cat = catalog(
        row("asked", prices=prices("10", "20")), row("no-json", prices=prices("1", "1"), features={"json_mode": False})
    )
    request = chat("asked", response_format=ResponseFormat(type="json_schema", schema={"type": "object"}))
    p = router(cat).plan(request, resolved(cat["asked"]), None)
    assert models(p) == ["asked"]
    assert p.excluded == (Exclusion("openai", "no-json", "json_mode"),)


def test_lower_tiers_and_other_classes_are_not_candidates() -> None:
    cat = catalog(
        row("asked", tier=2),
        row("lower", tier=1, prices=prices("0.1", "0.1")),
        row("other-class", **{"class": "d"}, prices=prices("0.1", "0.1")),
        row("higher", tier=3),
    )
    assert models(router(cat, max_candidates=20).plan(chat("asked"), resolved(cat["asked"]), None)) == [
        "asked",
        "higher",
    ]


def test_requested_first_when_it_is_the_cheapest() -> None:
    cat = catalog(row("asked", prices=prices("1", "1")), row("dear", prices=prices("9", "9")))
    p = router(cat).plan(chat("asked"), resolved(cat["asked"]), None)
    assert [(r.model, r.reason) for r in p.routes] == [("asked", "requested"), ("dear", "fallback")]


def _slow_cheap_catalog() -> Catalog:
    return catalog(
        row("dear-fast", "anthropic", prices=prices("1.2", "2.4"), ttft_ms=500),
        row("cheap-slow", "gemini", prices=prices("1", "2"), ttft_ms=500),
    )


async def test_latency_weighting_flips_the_order_when_the_cheap_model_is_slow() -> None:
    cat = _slow_cheap_catalog()
    request, target = chat("dear-fast"), resolved(cat["dear-fast"])
    unmeasured = router(cat, performance_weighting=0.5).plan(request, target, None)
    assert models(unmeasured) == ["cheap-slow", "dear-fast"]

    metrics = FakeMetrics({("gemini", "cheap-slow"): 10.0, ("anthropic", "dear-fast"): 0.5})
    view = LatencyView(metrics, clock=FakeClock())
    r = router(cat, performance_weighting=0.5, latency=view)
    await view.refresh(r.candidate_pairs(request, target), max_wait=1.0)
    measured = r.plan(request, target, None)
    assert models(measured) == ["dear-fast", "cheap-slow"]
    assert measured.routes[0].latency_s == 0.5
    assert measured.routes[0].reason == "requested"
    # Price only: latency is ignored again.
    assert models(router(cat, performance_weighting=0.0, latency=view).plan(request, target, None))[0] == "cheap-slow"


@pytest.mark.parametrize(
    ("order", "first"),
    [
        (("gemini", "openai", "anthropic"), "twin-g"),
        (("openai", "gemini", "anthropic"), "twin-o"),
        (("anthropic",), "twin-g"),
    ],
)
def test_ties_are_broken_by_fallback_order_then_model_id(order: tuple[str, ...], first: str) -> None:
    cat = catalog(row("asked", prices=prices("5", "5")), row("twin-o"), row("twin-g", "gemini"))
    p = router(cat, fallback_order=order).plan(chat("asked"), resolved(cat["asked"]), None)
    assert p.routes[0].score == p.routes[1].score
    # Neither provider listed first: both rank last, so the model id decides ("twin-g" < "twin-o").
    assert models(p)[0] == first


def test_same_provider_ties_go_by_model_id() -> None:
    cat = catalog(row("asked", prices=prices("5", "5")), row("b-twin"), row("a-twin"))
    assert models(router(cat).plan(chat("asked"), resolved(cat["asked"]), None))[:2] == ["a-twin", "b-twin"]


# --- properties over the packaged catalog ---

ROUTABLE = sorted(m.id for m in REAL if m.chat_completions)
PROVIDERS = ("openai", "anthropic", "gemini")


@st.composite
def requests(draw: st.DrawFn) -> ChatRequest:
    parts: list[TextPart | ImagePart] = [TextPart(draw(st.text(max_size=50)))]
    if draw(st.booleans()):
        parts.append(ImagePart("https://example.com/x.png"))
    return ChatRequest(
        model="x",
        messages=(Message(role="user", content=tuple(parts)),),
        tools=(Tool(name="f"),) if draw(st.booleans()) else (),
        response_format=draw(st.sampled_from([None, ResponseFormat(type="json_object")])),
        stream=draw(st.booleans()),
        temperature=draw(st.sampled_from([None, 0.5])),
        top_k=draw(st.sampled_from([None, 5])),
        stop=draw(st.sampled_from([(), ("END",)])),
        max_tokens=draw(st.sampled_from([None, 100, 10_000, 70_000])),
    )


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    model=st.sampled_from(ROUTABLE),
    request=requests(),
    options=st.builds(
        ChatOptions,
        preferred_provider=st.sampled_from([None, *PROVIDERS]),
        cost_optimization=st.sampled_from([None, True, False]),
        fallback=st.sampled_from([None, True, False]),
    ),
    down=st.frozensets(st.sampled_from(PROVIDERS), max_size=2),
    cap=st.integers(min_value=1, max_value=6),
    today=st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 12, 31)),
)
def test_plan_invariants(
    model: str, request: ChatRequest, options: ChatOptions, down: frozenset[str], cap: int, today: date
) -> None:
    r = router(today=today, max_candidates=cap)
    target = resolve_model(model, REAL)
    asked = target.entry
    assert asked is not None
    p = r.plan(request, target, options, unavailable=lambda prov, m: "down" if prov in down else None)
    keys = [(route.provider, route.model) for route in p.routes]
    assert len(keys) == len(set(keys))
    assert len(keys) <= cap
    if not p.policy.fallback:
        assert len(keys) <= 1
    assert all(route.provider not in down for route in p.routes)
    for route in p.routes:
        if route.model == asked.id:
            continue
        entry = route.entry
        assert entry is not None
        assert unmet(entry, p.needs) is None
        assert not entry.is_retired(today)
        assert entry.equivalence_class == asked.equivalence_class is not None
        assert (entry.tier or 0) >= (asked.tier or 0)
    reasons = [route.reason for route in p.routes]
    assert all(reason == "fallback" for reason in reasons[1:])
    if reasons and reasons[0] == "requested":
        assert p.routes[0].model == asked.id
    if not p.policy.cost_optimization and options.preferred_provider is None and asked.provider not in down:
        assert p.routes[0].model == asked.id


@given(
    prompt=st.integers(min_value=0, max_value=2_000_000),
    max_tokens=st.one_of(st.none(), st.integers(min_value=1, max_value=200_000)),
)
def test_the_float_price_that_orders_candidates_matches_the_decimal_estimate(
    prompt: int, max_tokens: int | None
) -> None:
    # Every catalog row, long-context tiers included: ordering must agree with what analyze_costs reports.
    r = router()
    needs = RequestNeeds(
        tools=False, vision=False, json_mode=False, streaming=False, sampling=frozenset(),
        prompt_tokens=prompt, max_tokens=max_tokens,
    )  # fmt: skip
    for entry in REAL:
        exact = estimate_for(entry, needs).usd
        assert exact is not None
        assert r._price(entry, needs) == pytest.approx(float(exact), rel=1e-9, abs=1e-12)
    assert r._price(None, needs) is None
