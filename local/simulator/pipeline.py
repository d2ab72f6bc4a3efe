"""One request, any provider: auth, key rules, validation, directives, latency, then a reply or a fault.

Order (each step answers in the provider's own format, through its `Wire` module):
1. count the call; a missing key (Anthropic: or `anthropic-version`) gets the provider's auth error at once;
2. faults from the admin defaults and the key's rule come next, before the body is looked at, the way the
   real APIs check credentials and rate limits first;
3. the body is validated as the provider would (400 / 404 for unknown models);
4. the `[sim ...]` tags of the last user text are layered: defaults < tags < key rule;
5. after `latency_ms`, an error status if one was asked for, else the reply: JSON (cut in half with
   `cut_after`), or a stream with `ttft_ms` / `chunk_gap_ms` timing, an in-stream error after `error_after`
   events or a dropped connection after `cut_after` events (never past the completion marker).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import uuid
from typing import Final

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from local.simulator.directives import DirectiveError, Directives, parse_tags
from local.simulator.exchange import Endpoint, Exchange, Wire
from local.simulator.faults import Fault, WireError, in_stream_fault, response_fault
from local.simulator.generation import generate, make_id
from local.simulator.state import SimState
from local.simulator.streaming import CutBody, FrameStream

__all__ = ["DEFAULT_CHUNKS", "serve"]

DEFAULT_CHUNKS: Final = 4


def _request_id(provider: str) -> str:
    if provider == "anthropic":
        return "req_011C" + make_id(uuid.uuid4().hex, 20)
    return "req_" + uuid.uuid4().hex


_STREAM_KEYS: Final = ("stream", "stream_options")


def _digest(model: str, body: object, raw: bytes) -> str:
    """Hash of the model and the body minus its stream switches: a stream and a JSON reply agree."""
    if isinstance(body, dict):
        raw = orjson.dumps({k: v for k, v in body.items() if k not in _STREAM_KEYS}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(model.encode() + b"\n" + raw).hexdigest()


async def _pause_ms(ms: int | None) -> None:
    if ms:
        await asyncio.sleep(ms / 1000)


def _status_of(response: ASGIApp) -> int:
    if isinstance(response, Response):
        return response.status_code
    if isinstance(response, (FrameStream, CutBody)):
        return response.status
    return 200


async def serve(request: Request, wire: Wire, endpoint: Endpoint) -> ASGIApp:
    state: SimState = request.app.state.sim
    response = await _answer(request, wire, endpoint, state)
    state.record_status(_status_of(response))
    return response


async def _answer(request: Request, wire: Wire, endpoint: Endpoint, state: SimState) -> ASGIApp:
    key = wire.api_key(request)
    state.record_call(endpoint.route, key)
    raw = await request.body()
    try:
        body = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        body = None  # each provider's parser rejects a non-object body in its own words
    model = wire.model_of(body, endpoint)
    ex = Exchange(
        endpoint=endpoint, model=model, digest=_digest(model, body, raw), request_id=_request_id(endpoint.provider)
    )

    if (problem := wire.check_headers(request, key)) is not None:
        return wire.error_response(problem, ex)
    rule = state.rule_for(key)
    base = Directives.layered(state.defaults, rule)
    if (fault := response_fault(base, stream=True)) is not None:
        await _pause_ms(base.latency_ms)
        return wire.error_response(fault, ex)
    try:
        conv = wire.parse(body, endpoint)
        asked = parse_tags(conv.user_text)
    except WireError as err:
        await _pause_ms(base.latency_ms)
        return wire.error_response(err.fault, ex)
    except DirectiveError as err:
        return wire.error_response(Fault(kind="invalid_request", message=str(err)), ex)
    ex = dataclasses.replace(ex, prompt_tokens=conv.prompt_tokens)
    d = Directives.layered(state.defaults, asked, rule)
    await _pause_ms(d.latency_ms)
    if (fault := response_fault(d, stream=conv.stream)) is not None:
        return wire.error_response(fault, ex)

    reply = generate(conv, d, ex.digest)
    if not conv.stream:
        content, headers = wire.json_reply(conv, reply, ex)
        if d.cut_after is not None:
            return CutBody(content, headers)
        return Response(content, headers=headers)

    frames, headers = wire.stream_reply(conv, reply, ex, d.chunks or DEFAULT_CHUNKS)
    last_before_marker = len(frames) - 1  # faults never let the completion marker through
    first_delay, gap = (d.ttft_ms or 0) / 1000, (d.chunk_gap_ms or 0) / 1000
    if (stream_fault := in_stream_fault(d)) is not None and d.error_after is not None:
        sent = min(d.error_after, last_before_marker)
        error_frame = wire.stream_error(stream_fault, ex, sent)
        return FrameStream(frames, headers, stop_after=sent, error_frame=error_frame, first_delay=first_delay, gap=gap)
    if d.cut_after is not None:
        return FrameStream(
            frames, headers, stop_after=min(d.cut_after, last_before_marker), cut=True, first_delay=first_delay, gap=gap
        )
    return FrameStream(frames, headers, first_delay=first_delay, gap=gap)
