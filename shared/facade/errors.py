"""The seed's error contract as a Python exception: what the in-process facade raises.

`AIError` carries exactly the seed envelope's fields (`code`, `message`, `type`, `provider`, `retryable`,
`attempts`; plus `field` for bad input, `failures` when the gateway gave up, and the HTTP `status` the
same error gets on `POST /api/ai/chat`). It is built from the seed envelope itself
(`shared.api.envelopes.seed_error_event`), so the facade and the HTTP route can never disagree.
"""

from __future__ import annotations

from typing import Any

from shared.api.envelopes import seed_error
from shared.errors import GatewayError

__all__ = ["AIError"]


class AIError(Exception):
    def __init__(
        self,
        *,
        code: str,
        message: str,
        type: str,
        provider: str | None,
        retryable: bool,
        attempts: int,
        status: int,
        field: str | None = None,
        failures: list[dict[str, Any]] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.type = type
        self.provider = provider
        self.retryable = retryable
        self.attempts = attempts
        self.status = status
        self.field = field
        self.failures = failures
        self.retry_after = retry_after

    @classmethod
    def from_gateway(cls, error: GatewayError) -> AIError:
        import orjson

        status, headers, body = seed_error(error)
        fields: dict[str, Any] = orjson.loads(body)["error"]
        retry_after = headers.get("retry-after")
        return cls(
            code=fields["code"],
            message=fields["message"],
            type=fields["type"],
            provider=fields["provider"],
            retryable=fields["retryable"],
            attempts=fields["attempts"],
            status=status,
            field=fields.get("field"),
            failures=fields.get("failures"),
            retry_after=float(retry_after) if retry_after is not None else None,
        )

    def to_dict(self) -> dict[str, Any]:
        """The seed's `AIError` object (the `error` of the HTTP envelope)."""
        out: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "type": self.type,
            "provider": self.provider,
            "retryable": self.retryable,
            "attempts": self.attempts,
        }
        if self.field is not None:
            out["field"] = self.field
        if self.failures is not None:
            out["failures"] = self.failures
        return out

    def __repr__(self) -> str:
        return (
            f"AIError(code={self.code!r}, status={self.status}, provider={self.provider!r}, message={self.message!r})"
        )
