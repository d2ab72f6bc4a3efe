"""The topic and table schemas are generated from the event models: the committed files are exactly what
the models give now, every field is a column of the plain type its values have, and an event's JSON fits
its table row for row."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

import orjson
import pytest
from pydantic import BaseModel

from shared.events.table_schemas import EVENT_TYPES, avro_schema, bigquery_fields, rendered
from shared.vault.audit import AuditEvent
from tests.events.test_schema import event

PYTHON_OF = {"STRING": str, "INT64": int, "BOOL": bool, "TIMESTAMP": str}


def test_the_committed_schema_files_are_what_the_models_give() -> None:
    stale = [path.name for path, content in rendered().items() if not path.exists() or path.read_bytes() != content]
    assert stale == [], "run: python -m shared.events.table_schemas"


@pytest.mark.parametrize("model", list(EVENT_TYPES.values()))
def test_every_model_field_is_a_column_once(model: type[BaseModel]) -> None:
    names = [f["name"] for f in bigquery_fields(model)]
    assert names == list(model.model_fields)
    assert [f["name"] for f in avro_schema(model, "X")["fields"]] == names


def test_usage_columns_have_the_plain_types_and_modes() -> None:
    columns = {f["name"]: (f["type"], f["mode"]) for f in bigquery_fields(type(event()))}
    assert columns["ts"] == ("TIMESTAMP", "REQUIRED")
    assert columns["cost_micros"] == ("INT64", "NULLABLE")
    assert columns["provider"] == ("STRING", "NULLABLE")
    assert columns["stream"] == ("BOOL", "REQUIRED")
    assert columns["credential_id"] == ("STRING", "NULLABLE")
    assert columns["route_reason"] == ("STRING", "NULLABLE")
    avro = {f["name"]: f for f in avro_schema(type(event()), "UsageEvent")["fields"]}
    assert avro["ts"]["type"] == {"type": "long", "logicalType": "timestamp-micros"}
    assert (avro["cost_micros"]["type"], avro["cost_micros"]["default"]) == (["null", "long"], None)
    assert "default" not in avro["tenant"]


def _fits(row: dict[str, Any], columns: list[dict[str, str]]) -> None:
    assert set(row) == {c["name"] for c in columns}
    for column in columns:
        value = row[column["name"]]
        if value is None:
            assert column["mode"] == "NULLABLE", column["name"]
        else:
            assert type(value) is PYTHON_OF[column["type"]], column["name"]
            if column["type"] == "TIMESTAMP":
                assert datetime.fromisoformat(str(value)).utcoffset() is not None


def test_a_usage_events_json_fits_its_table() -> None:
    for sample in (event(), event(stream=True, ttft_ms=80, route_reason="cheapest", credential_id="pk_x")):
        _fits(orjson.loads(sample.to_json_bytes()), bigquery_fields(type(sample)))


def test_an_audit_events_json_fits_its_table() -> None:
    sample = AuditEvent(
        ts=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        tenant="shop",
        action="store",
        key_id="pk_1",
        provider="OPENAI",
        outcome="ok",
    )
    _fits(orjson.loads(sample.to_json_bytes()), bigquery_fields(AuditEvent))


class Mixed(BaseModel):
    value: int | str


class Listed(BaseModel):
    value: list[int]


class MixedLiteral(BaseModel):
    value: Literal[1, "a"]


@pytest.mark.parametrize("model", [Mixed, Listed, MixedLiteral])
def test_a_field_no_column_can_hold_is_refused(model: type[BaseModel]) -> None:
    with pytest.raises(TypeError):
        bigquery_fields(model)
