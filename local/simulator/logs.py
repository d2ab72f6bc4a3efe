"""Logging filters for uvicorn's loggers, installed by `create_app`.

- Gemini keys may come as `?key=...`; uvicorn's access log prints the full path, so the value is redacted
  there (the simulator never writes a key anywhere).
- A deliberately dropped connection (`cut_after`) makes uvicorn log "ASGI callable returned without
  completing response."; the simulator only ever does that on purpose, so the line is dropped.
"""

from __future__ import annotations

import logging
import re
from typing import Final

__all__ = ["install_log_filters"]

_CUT_LOG: Final = "ASGI callable returned without completing response."
_KEY_PARAM: Final = re.compile(r"([?&]key=)[^&\s]*")


class _DropDeliberateCuts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != _CUT_LOG


class _RedactQueryKeys(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_KEY_PARAM.sub(r"\1REDACTED", a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = _KEY_PARAM.sub(r"\1REDACTED", record.msg)
        return True


def _install(logger_name: str, kind: type[logging.Filter]) -> None:
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, kind) for f in logger.filters):
        logger.addFilter(kind())


def install_log_filters() -> None:
    _install("uvicorn.error", _DropDeliberateCuts)
    _install("uvicorn.access", _RedactQueryKeys)
