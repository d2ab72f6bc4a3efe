"""Detailed logging (the seed's `analytics.detailedLogging`): one structured JSON line per provider attempt.

Off by default (`ANALYTICS_DETAILED_LOGGING`); the service core calls `attempt` only when it is on. A line
says who asked (tenant, user, gateway key id), which request and attempt, which route and provider key
(`credential`: a BYOK key id or `platform:<fingerprint>`, never the key), how it went (`outcome`, error
`kind`, upstream `status`, `latency_ms`) and why this route was tried. Message content is never logged
unless `ANALYTICS_LOG_CONTENT` is also on; then the request's messages ride along (text parts only:
images and files are named, not copied). Written to the logger `gateway.attempts` at INFO, one compact
JSON object per line, so any log pipeline (Cloud Logging reads JSON lines on stdout as structured entries)
can filter on its fields. Turning it on makes the lines visible: the logger is set to INFO and, when no
handler would receive them (neither the process nor the app configured logging: `make run`, a Cloud
Function), it writes them to stdout itself, bare (the JSON object is the whole line).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import orjson

from shared.errors import GatewayError, ProviderError
from shared.identity import Identity
from shared.unified import ChatRequest, Message, TextPart

__all__ = ["LOGGER_NAME", "AttemptLog"]

LOGGER_NAME = "gateway.attempts"


class AttemptLog:
    def __init__(self, *, content: bool = False, logger: logging.Logger | None = None) -> None:
        self._content = content
        self._logger = logger or logging.getLogger(LOGGER_NAME)
        self._logger.setLevel(logging.INFO)
        if not self._logger.hasHandlers():
            handler = logging.StreamHandler(sys.stdout)
            handler.setFormatter(logging.Formatter("%(message)s"))
            self._logger.addHandler(handler)

    def attempt(
        self,
        *,
        identity: Identity,
        request_id: str,
        request: ChatRequest,
        number: int,
        provider: str,
        model: str,
        credential: str,
        reason: str,
        latency_s: float,
        error: GatewayError | None,
    ) -> None:
        line: dict[str, Any] = {
            "event": "provider_attempt",
            "request_id": request_id,
            "tenant": identity.tenant,
            "user": identity.user,
            "key_id": identity.key_id,
            "attempt": number,
            "provider": provider,
            "model": model,
            "model_requested": request.model,
            "reason": reason,
            "credential": credential,
            "stream": request.stream,
            "outcome": "ok" if error is None else "error",
            "latency_ms": round(latency_s * 1000, 1),
        }
        if isinstance(error, ProviderError):
            line.update(kind=error.kind, status=error.status, retryable=error.retryable)
        elif error is not None:
            line.update(kind=type(error).__name__, status=error.status)
        if self._content:
            line["messages"] = [_message(m) for m in request.messages]
        self._logger.info(orjson.dumps(line).decode())


def _message(message: Message) -> dict[str, Any]:
    content = message.content
    if isinstance(content, str) or content is None:
        return {"role": message.role, "content": content}
    parts = [p.text if isinstance(p, TextPart) else f"[{type(p).__name__}]" for p in content]
    return {"role": message.role, "content": parts}
