"""The config machinery: typed loading from nested dicts, with errors that name the dotted field.

Every section is a frozen dataclass whose ``__post_init__`` range-checks its values with
:func:`check`; :func:`from_dict` type-checks a nested dict against the annotations and prefixes
a failed check with the section's dotted path (``train.epochs must be at least 1``).
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import fields, is_dataclass
from typing import Any

import yaml

from edgeflow import EdgeflowError

class ConfigError(EdgeflowError):
    """A configuration value is missing, of the wrong type, or out of range."""

def check(ok: bool, name: str, message: str) -> None:
    """Raises ConfigError("<name> <message>") unless `ok`; used by every section's __post_init__."""
    if not ok:
        raise ConfigError(f"{name} {message}")

def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))

def _coerce(value: Any, tp: Any, name: str) -> Any:
    """Checks `value` against the annotation `tp`; ints are accepted where floats are."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(value, args[0], name)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is bool and not isinstance(value, bool):
        raise ConfigError(f"{name} must be true or false, got {value!r}")
    if tp in (int, str) and (not isinstance(value, tp) or isinstance(value, bool)):
        raise ConfigError(f"{name} must be {'an integer' if tp is int else 'a string'}, got {value!r}")
    if tp is float and not isinstance(value, float):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    return value

def from_dict(cls: type, values: dict, prefix: str = "") -> Any:
    """Builds dataclass `cls` from a nested dict, naming any bad field by its dotted path."""
    if not isinstance(values, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'} must be a mapping of fields, got {values!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    for key in values:
        if key not in known:
            raise ConfigError(f"{prefix}{key} is not a config field; known fields here: {', '.join(sorted(known))}")
    kwargs = {}
    for f in fields(cls):
        if f.name not in values:
            continue
        tp, value, name = hints[f.name], values[f.name], prefix + f.name
        kwargs[f.name] = from_dict(tp, value, name + ".") if is_dataclass(tp) else _coerce(value, tp, name)
    try:
        return cls(**kwargs)
    except ConfigError as err:  # range checks name the field without its section; add it
        raise ConfigError(f"{prefix}{err}") from None

def to_dict(cfg: Any) -> dict:
    return dataclasses.asdict(cfg)

def _merge(base: dict, update: dict) -> dict:
    out = dict(base)
    for key, value in update.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out

def parse_override(text: str) -> dict:
    """``"train.epochs=3"`` -> ``{"train": {"epochs": 3}}`` (the value is read as YAML)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like section.field=value, e.g. train.epochs=3")
    key, raw = text.split("=", 1)
    value = yaml.safe_load(raw) if raw.strip() else None
    nested: dict = {}
    node = nested
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return nested

def dump_yaml(cfg: Any) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)
