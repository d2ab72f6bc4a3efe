"""What a request needs from a model (features, sampling parameters, room), and whether a model has it.

Architecture, Routing: "candidates lacking what the request uses are dropped". `unmet` is that check for one
catalog row; the router applies it to substitutes only (the model the caller named is always tried: the
provider decides).
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.catalog import CatalogModel
from shared.cost import DEFAULT_OUTPUT_RESERVE
from shared.routing.tokens import estimate_prompt_tokens
from shared.unified import ChatRequest, ImagePart

__all__ = ["RequestNeeds", "unmet"]


def _sampling(request: ChatRequest) -> frozenset[str]:
    # Names as the catalog's SamplingParam spells them. `stop` counts when non-empty, `n` only above 1:
    # an empty stop list and n=1 are the defaults every model accepts.
    used = {
        "temperature": request.temperature is not None,
        "top_p": request.top_p is not None,
        "top_k": request.top_k is not None,
        "stop": bool(request.stop),
        "n": request.n is not None and request.n > 1,
        "seed": request.seed is not None,
        "presence_penalty": request.presence_penalty is not None,
        "frequency_penalty": request.frequency_penalty is not None,
    }
    return frozenset(name for name, present in used.items() if present)


@dataclass(frozen=True, slots=True)
class RequestNeeds:
    tools: bool
    vision: bool
    json_mode: bool
    streaming: bool
    sampling: frozenset[str]
    prompt_tokens: int
    max_tokens: int | None

    @classmethod
    def of(cls, request: ChatRequest) -> RequestNeeds:
        # A conversation that already holds tool calls or results needs a tool-capable model to be replayed.
        tools = bool(request.tools) or any(m.tool_calls or m.role == "tool" for m in request.messages)
        vision = any(
            isinstance(m.content, tuple) and any(isinstance(p, ImagePart) for p in m.content) for m in request.messages
        )
        response_format = request.response_format
        return cls(
            tools=tools,
            vision=vision,
            json_mode=response_format is not None and response_format.type in ("json_object", "json_schema"),
            streaming=request.stream,
            sampling=_sampling(request),
            prompt_tokens=estimate_prompt_tokens(request),
            max_tokens=request.max_tokens,
        )

    @property
    def output_reserve(self) -> int:
        """Output tokens every candidate is priced with: `max_tokens`, else DEFAULT_OUTPUT_RESERVE.

        One reserve for all candidates keeps prices comparable; each model's own max output as the reserve
        (what `estimate_cost` does with None) would make a model look dearer just for allowing longer replies.
        """
        return self.max_tokens if self.max_tokens is not None else DEFAULT_OUTPUT_RESERVE


def unmet(entry: CatalogModel, needs: RequestNeeds) -> str | None:
    """None when `entry` can serve a request with `needs`, else the first missing thing, e.g. "sampling:top_k"."""
    features = entry.features
    if needs.tools and not features.tools:
        return "tools"
    if needs.vision and not features.vision:
        return "vision"
    if needs.json_mode and not features.json_mode:
        return "json_mode"
    if needs.streaming and not features.streaming:
        return "streaming"
    for param in sorted(needs.sampling):
        if not entry.accepts(param):
            return f"sampling:{param}"
    if needs.prompt_tokens + (needs.max_tokens or 0) > entry.context_window:
        return "context"
    if needs.max_tokens is not None and entry.max_output is not None and needs.max_tokens > entry.max_output:
        return "max_output"
    return None
