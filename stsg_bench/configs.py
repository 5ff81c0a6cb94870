"""One typed config layer: dataclass configs filled from TOML tables or keyword arguments, checked at
the edge by their field types.

:func:`convert` checks and converts one value against a type annotation (one number rule: a finite
number, a whole number accepted where a float is expected, never ``true``/``false``; lists for tuples;
nested tables for nested dataclasses); :func:`typed_values` does it for a table of a dataclass's
fields and :func:`load` builds the dataclass. Unknown keys name the closest valid one. Every error is a
:class:`ConfigError` naming ``WHERE.key``, which callers prefix with the file. A field may declare its
own reader with ``field(metadata={"from_toml": fn})`` (e.g. a table of windows). :func:`check_ranges`
enforces minimums and fractions in ``__post_init__``.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, Literal, Union

from .errors import ConfigError


def closest(key: str, valid: Iterable[str]) -> str:
    """'; did you mean X?' for a misspelt key, or ''."""
    near = difflib.get_close_matches(key, list(valid), n=1)
    return f"; did you mean '{near[0]}'?" if near else ""


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if tp is bool:
        return "true/false"
    if tp is int:
        return "whole number"
    if tp is float:
        return "number"
    if tp is str:
        return "string"
    if origin in (tuple, list):
        return "list"
    if origin in (dict, Mapping) or dataclasses.is_dataclass(tp):
        return "table"
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    return getattr(tp, "__name__", str(tp))


def convert(tp: Any, value: Any, where: str) -> Any:
    """``value`` checked against the annotation ``tp`` and converted (lists to tuples, whole numbers to
    floats, tables to nested dataclasses); ConfigError naming ``where`` if it does not fit."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return convert(arg, value, where)
            except ConfigError as err:
                errors.append(err)
        raise (
            errors[0]
            if len(errors) == 1
            else ConfigError(
                f"{where}: expected {' or '.join(_describe(a) for a in args if a is not type(None))}, got {value!r}"
            )
        )
    bad = ConfigError(f"{where}: expected a {_describe(tp)}, got {value!r}")
    if tp is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        if not math.isfinite(value):
            raise ConfigError(f"{where}: expected a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise bad
        return value
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where}: expected one of {', '.join(repr(a) for a in args)}, got {value!r}")
        return value
    if origin in (tuple, list):
        if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (list, tuple)):
            raise bad
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise ConfigError(f"{where}: expected a list of {len(args)} values, got {value!r}")
            return tuple(convert(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
        item = args[0] if args else Any
        items = [convert(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise bad
        vt = args[1] if len(args) == 2 else Any
        return {str(k): convert(vt, v, f"{where}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise bad
        return load(tp, value, where)
    if isinstance(tp, type):
        if not isinstance(value, tp):
            raise bad
        return value
    return value


def field_types(cls: type) -> dict[str, Any]:
    """The init fields of dataclass ``cls`` with their resolved annotations."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}


def typed_values(cls: type, values: Mapping[str, Any], where: str, ignore: Iterable[str] = ()) -> dict[str, Any]:
    """``values`` checked and converted against the fields of dataclass ``cls`` (keys in ``ignore`` are
    left out); an unknown key is a ConfigError naming the closest valid one."""
    types_ = field_types(cls)
    ignore = set(ignore)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key in ignore:
            continue
        try:
            if key not in types_:
                valid = sorted(types_)
                raise ConfigError(f"{where}: unknown key '{key}'{closest(str(key), valid)} (valid: {', '.join(valid)})")
            reader = fields[key].metadata.get("from_toml")
            out[key] = reader(value, f"{where}.{key}") if reader else convert(types_[key], value, f"{where}.{key}")
        except ConfigError as err:
            err.key = str(key)  # the top-level key, for callers that name file and key separately
            raise
    return out


def located(err: ConfigError, where: str) -> tuple[str | None, str]:
    """(the dotted key, the problem) of an error raised with ``where`` as its location, for a one-line
    error that names the file and the key separately (``WHERE.a.b: problem`` -> ``("a.b", "problem")``)."""
    text = str(err)
    head, sep, problem = text.partition(": ")
    if not sep or not head.startswith(where):
        return err.key, text
    key = head[len(where) :].lstrip(".")
    return key or err.key, problem


def load(cls: type, values: Mapping[str, Any], where: str, ignore: Iterable[str] = (), base: Any = None) -> Any:
    """Dataclass ``cls`` (or ``base`` with these changes) from a table; every error a ConfigError naming
    ``where`` (the checks of ``__post_init__`` included)."""
    kw = typed_values(cls, values, where, ignore)
    try:
        return dataclasses.replace(base, **kw) if base is not None else cls(**kw)
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def check_ranges(
    cfg: Any, minimum: Mapping[str, float] = {}, positive: Iterable[str] = (), fractions: Iterable[str] = ()
) -> None:
    """Raise ValueError unless ``cfg.k >= minimum[k]``, ``cfg.k > 0`` for ``positive`` and
    ``0 <= cfg.k <= 1`` for ``fractions`` (``None`` values are skipped)."""
    for key, lo in minimum.items():
        v = getattr(cfg, key)
        if v is not None and v < lo:
            raise ValueError(f"{key} must be >= {lo:g}, got {v}")
    for key in positive:
        v = getattr(cfg, key)
        if v is not None and not v > 0:
            raise ValueError(f"{key} must be > 0, got {v}")
    for key in fractions:
        v = getattr(cfg, key)
        if v is not None and not 0.0 <= v <= 1.0:
            raise ValueError(f"{key} must be within [0, 1], got {v}")
