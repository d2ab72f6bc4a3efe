"""README.md's Configuration section names every environment variable the settings read and every field
of the seed's configuration object, in camelCase and snake_case, with the defaults the code has."""

from __future__ import annotations

import re

from pydantic import BaseModel
from pydantic.alias_generators import to_camel

from shared.facade import ServiceConfig
from shared.settings import ENV_VARS, Settings
from tests.docs.readme import README, section


def _configuration() -> str:
    return section(README.read_text(), "Configuration")


def _fields(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str]]:
    """(camelCase path, snake_case path) of every leaf field."""
    paths: list[tuple[str, str]] = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            paths += _fields(annotation, f"{prefix}{name}.")
        else:
            camel_prefix = ".".join(to_camel(p) for p in prefix.split(".") if p)
            camel = f"{camel_prefix}.{to_camel(name)}" if camel_prefix else to_camel(name)
            paths.append((camel, f"{prefix}{name}"))
    return paths


def test_every_environment_variable_is_documented() -> None:
    text = _configuration()
    missing = [name for name in ENV_VARS if f"`{name}`" not in text]
    assert not missing, f"README.md Configuration does not name: {missing}"


def test_every_config_field_is_documented_in_both_spellings() -> None:
    text = _configuration()
    fields = _fields(ServiceConfig)
    assert len(fields) == 11
    missing = [p for pair in fields for p in pair if f"`{p}`" not in text]
    assert not missing, f"README.md Configuration does not name: {missing}"


def _row(text: str, variable: str) -> list[str] | None:
    for line in text.splitlines():
        if line.startswith(f"| `{variable}` |"):
            return [c.strip() for c in line.strip("|").split("|")]
    return None


def test_single_variable_rows_state_the_code_defaults() -> None:
    """Rows of one variable whose default is a plain number or boolean: the number is the code's default."""
    text = _configuration()
    defaults = Settings()
    checked = 0
    for variable in ENV_VARS:
        attribute = variable.lower()
        row = _row(text, variable)
        if not hasattr(defaults, attribute) or row is None:
            continue
        value = getattr(defaults, attribute)
        default_cell = row[2]
        if isinstance(value, bool):
            assert default_cell == str(value).lower(), f"{variable}: README {default_cell!r}, code {value}"
            checked += 1
        elif isinstance(value, int | float) and re.fullmatch(r"[0-9.]+", default_cell):
            assert float(default_cell) == value, f"{variable}: README {default_cell!r}, code {value}"
            checked += 1
    assert checked >= 6
