"""Model-name resolution: which provider serves a name, what goes upstream, and whether it is priced.

Order (architecture.md, Routing):
1. Catalog ids and aliases (case-insensitive). The upstream model is the row's canonical id, so an
   alias such as `claude-3-haiku` (not an API id) or `GPT-4o` goes to the provider as `claude-3-haiku-20240307`
   / `gpt-4o`. Retirement does not matter here: a model the caller names is always tried.
2. Otherwise a name that looks like a provider's own model (`gpt-`, `chatgpt-`, `o` + digit -> openai;
   `claude-` -> anthropic; `gemini-` -> gemini) is sent to that provider as given, unpriced
   (`usage.cost: null`, never $0) and never a substitution candidate.
3. Anything else is a 400 (`UnknownModelError`, field "model", pointing at GET /v1/models).

Pass-through names are restricted to a plain model-name alphabet: the Gemini adapter puts the model in
the URL path, so a name like `gemini-x/../../v1/...` must never get that far.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.catalog import Catalog, CatalogModel, Provider
from shared.errors import RequestError, UnknownModelError

__all__ = ["PASS_THROUGH_PREFIXES", "ResolvedModel", "resolve_model"]

# Prefix -> provider for names outside the catalog (checked in order, case-insensitively).
PASS_THROUGH_PREFIXES: tuple[tuple[re.Pattern[str], Provider], ...] = (
    (re.compile(r"^(?:gpt-|chatgpt-|o\d)", re.IGNORECASE), "openai"),
    (re.compile(r"^claude-", re.IGNORECASE), "anthropic"),
    (re.compile(r"^gemini-", re.IGNORECASE), "gemini"),
)
# Letters, digits, '.', '_', '-', ':' (dated/fine-tune style suffixes); nothing that could change a URL path.
_ECHO_LIMIT = 128
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """Where a requested model name goes.

    `model` is the id to send upstream; `entry` is the catalog row (None for pass-through names).
    """

    provider: Provider
    model: str
    entry: CatalogModel | None

    @property
    def priced(self) -> bool:
        return self.entry is not None

    @property
    def substitutable(self) -> bool:
        """May be replaced by / stand in for an equivalent model (catalog rows with a class only)."""
        return self.entry is not None and self.entry.substitutable


def resolve_model(name: str | None, catalog: Catalog) -> ResolvedModel:
    """Resolve a caller's model name. Raises RequestError (empty) or UnknownModelError (400, field "model")."""
    if name is None or not name.strip():
        raise RequestError("model is required: a model name such as 'gpt-4o-mini' (see GET /v1/models)", field="model")
    wanted = name.strip()
    entry = catalog.get(wanted)
    if entry is not None:
        return ResolvedModel(provider=entry.provider, model=entry.id, entry=entry)
    if _SAFE_NAME.fullmatch(wanted):
        for pattern, provider in PASS_THROUGH_PREFIXES:
            if pattern.match(wanted):
                return ResolvedModel(provider=provider, model=wanted, entry=None)
    # Cap what is echoed back: the name goes into the error message and the logs.
    raise UnknownModelError(wanted if len(wanted) <= _ECHO_LIMIT else wanted[:_ECHO_LIMIT] + "...")
