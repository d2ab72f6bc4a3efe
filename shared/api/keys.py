"""The keys function's HTTP surface: a caller's own provider keys (BYOK), metadata only.

    POST   /api/ai/keys               {"name", "provider", "apiKey"}  -> 201 metadata
    GET    /api/ai/keys                                               -> 200 {"keys": [metadata, ...]}
    DELETE /api/ai/keys/{id}                                          -> 204
    POST   /api/ai/keys/{id}/rotate   {"apiKey"}                      -> 200 metadata

Routes on the full path, served by the same `KeysApi` behind the Cloud Function entry point
(`dispatch`, called by `functions/keys/main.py`) and mounted in the dev server (`asgi`). Every route
needs a gateway key with the `keys` scope (401 without a valid key, 403 without the scope). The owner is
the key's tenant and user: an `act_as_user` platform key names the user in `X-User-Id`, a key with a
fixed user acts for it, a tenant key without a user manages the tenant-level keys. Errors use the seed
envelope. No reply or error ever holds the `apiKey` that was sent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.api.body import decode_json
from shared.api.http_io import json_response, read_body
from shared.api.limits import limits_routes
from shared.api.route_table import RouteTable, scoped_endpoint
from shared.errors import RequestError
from shared.identity import Identity
from shared.store.port import StoreUnavailable
from shared.vault.records import KeyMetadata
from shared.vault.validation import seed_name

if TYPE_CHECKING:
    from shared.api.keys_deps import KeysDeps

__all__ = ["KEYS_PATH", "KeysApi", "render_key"]

KEYS_PATH = "/api/ai/keys"
JSON = "application/json"

Handler = Callable[["KeysDeps", Identity, Request], Awaitable[Response]]


class KeysApi:
    def __init__(self, deps: Callable[[], Awaitable[KeysDeps]]) -> None:
        self._deps = deps
        self.table = RouteTable(
            [
                Route(KEYS_PATH, self._endpoint(_store), methods=["POST"]),
                Route(KEYS_PATH, self._endpoint(_list), methods=["GET"]),
                Route(KEYS_PATH + "/{key_id}", self._endpoint(_delete), methods=["DELETE"]),
                Route(KEYS_PATH + "/{key_id}/rotate", self._endpoint(_rotate), methods=["POST"]),
                *limits_routes(deps),
            ]
        )

    def asgi(self) -> Starlette:
        return self.table.asgi()

    async def dispatch(self, request: Request) -> Response:
        """The Cloud Function entry: the same routes, matched on the full path."""
        return await self.table.dispatch(request)

    def _endpoint(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        return scoped_endpoint(
            self._deps,
            "keys",
            handler,
            outage=StoreUnavailable,
            outage_message="the key store is unavailable: try again shortly",
        )


# --- handlers -------------------------------------------------------------------------------------


async def _store(deps: KeysDeps, identity: Identity, request: Request) -> Response:
    body = decode_json(await read_body(request, deps.body_limit))
    name, provider, api_key = _string(body, "name"), _string(body, "provider"), _string(body, "apiKey")
    meta = await deps.vault.store_key(identity, name, provider, api_key)
    return json_response(render_key(meta), 201)


async def _list(deps: KeysDeps, identity: Identity, request: Request) -> Response:
    return json_response({"keys": [render_key(meta) for meta in await deps.vault.list_keys(identity)]}, 200)


async def _delete(deps: KeysDeps, identity: Identity, request: Request) -> Response:
    await deps.vault.delete_key(identity, request.path_params["key_id"])
    return Response(status_code=204)


async def _rotate(deps: KeysDeps, identity: Identity, request: Request) -> Response:
    body = decode_json(await read_body(request, deps.body_limit))
    meta = await deps.vault.rotate_key(identity, request.path_params["key_id"], _string(body, "apiKey"))
    return json_response(render_key(meta), 200)


# --- rendering and reading ------------------------------------------------------------------------


def render_key(meta: KeyMetadata) -> dict[str, Any]:
    """A key's metadata as the API shows it (seed spelling of the provider, RFC 3339 UTC times)."""
    return {
        "id": meta.key_id,
        "name": meta.name,
        "provider": seed_name(meta.provider),
        "last4": meta.last4,
        "fingerprint": meta.fingerprint,
        "createdAt": _time(meta.created_at),
        "rotatedAt": _time(meta.rotated_at),
        "lastUsedAt": _time(meta.last_used_at),
        "status": meta.status,
    }


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _string(body: dict[str, Any], field: str) -> str:
    """A required string field; the error names the field and never shows the value."""
    value = body.get(field)
    if value is None:
        raise RequestError(f"{field} is required", field=field)
    if not isinstance(value, str):
        raise RequestError(f"{field} must be a string", field=field)
    return value
