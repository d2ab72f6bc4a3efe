"""The Pub/Sub topic schemas (Avro) and BigQuery table schemas of the event types, generated from the
pydantic models that are their single source of truth (architecture, Usage events).

Types map plainly: str and string enums (Literal) -> STRING / Avro string; int -> INT64 / long; bool ->
BOOL / boolean; a UTC datetime -> TIMESTAMP / long with logicalType timestamp-micros. A field that may be
None is NULLABLE (Avro: a union with null, default null); every other field is REQUIRED, defaults
included, because an event always carries a value for it. Field descriptions become column docs.

The generated JSON is committed under `shared/events/schemas/` (Terraform reads it: the topic schema,
the BigQuery table, the subscription that writes one into the other); a test regenerates it and fails
when a model changed without it: `python -m shared.events.table_schemas` rewrites the files.
"""

from __future__ import annotations

import sys
import types
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import orjson
from pydantic import BaseModel

from shared.events.schema import UsageEvent
from shared.limits.audit import LimitsAuditEvent
from shared.vault.audit import AuditEvent

__all__ = ["EVENT_TYPES", "SCHEMA_DIR", "avro_schema", "bigquery_fields", "rendered", "write_all"]

SCHEMA_DIR = Path(__file__).parent / "schemas"
# File stem -> model: usage_events.{avro,bigquery}.json, audit_events.{avro,bigquery}.json, and so on.
EVENT_TYPES: dict[str, type[BaseModel]] = {
    "usage_events": UsageEvent,
    "audit_events": AuditEvent,
    "limits_audit_events": LimitsAuditEvent,
}

_BIGQUERY = {str: "STRING", int: "INT64", bool: "BOOL", datetime: "TIMESTAMP"}
_AVRO: dict[type, Any] = {
    str: "string",
    int: "long",
    bool: "boolean",
    datetime: {"type": "long", "logicalType": "timestamp-micros"},
}


def _base(annotation: Any) -> tuple[type, bool]:
    """The plain type of a field annotation, and whether it admits None."""
    nullable = False
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            members = [a for a in get_args(annotation) if a is not type(None)]
            nullable = nullable or len(members) < len(get_args(annotation))
            if len(members) != 1:
                raise TypeError(f"a union of several types cannot be a column: {annotation!r}")
            annotation = members[0]
        elif origin is Literal:
            kinds = {type(value) for value in get_args(annotation)}
            if len(kinds) != 1:
                raise TypeError(f"a Literal mixing types cannot be a column: {annotation!r}")
            return kinds.pop(), nullable
        elif isinstance(annotation, type) and annotation in _BIGQUERY:
            return annotation, nullable
        else:
            raise TypeError(f"no column type for {annotation!r}")


def bigquery_fields(model: type[BaseModel]) -> list[dict[str, str]]:
    fields = []
    for name, info in model.model_fields.items():
        kind, nullable = _base(info.annotation)
        fields.append(
            {
                "name": name,
                "type": _BIGQUERY[kind],
                "mode": "NULLABLE" if nullable else "REQUIRED",
                "description": info.description or "",
            }
        )
    return fields


def avro_schema(model: type[BaseModel], name: str) -> dict[str, Any]:
    fields: list[dict[str, Any]] = []
    for field_name, info in model.model_fields.items():
        kind, nullable = _base(info.annotation)
        avro: dict[str, Any] = {"name": field_name, "type": ["null", _AVRO[kind]] if nullable else _AVRO[kind]}
        if nullable:
            avro["default"] = None
        if info.description:
            avro["doc"] = info.description
        fields.append(avro)
    return {"type": "record", "name": name, "namespace": "gateway", "fields": fields}


def rendered() -> dict[Path, bytes]:
    """Every schema file's path and its exact content."""
    files: dict[Path, bytes] = {}
    options = orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE
    for stem, model in EVENT_TYPES.items():
        files[SCHEMA_DIR / f"{stem}.bigquery.json"] = orjson.dumps(bigquery_fields(model), option=options)
        files[SCHEMA_DIR / f"{stem}.avro.json"] = orjson.dumps(avro_schema(model, model.__name__), option=options)
    return files


def write_all() -> list[Path]:
    SCHEMA_DIR.mkdir(exist_ok=True)
    written = []
    for path, content in rendered().items():
        path.write_bytes(content)
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_all():
        sys.stdout.write(f"wrote {path}\n")
