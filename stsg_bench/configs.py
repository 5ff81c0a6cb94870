"""Checks for dataclass configs filled from TOML files or keyword arguments (validation at the edge).

:func:`check_types` compares each given value with the type of the field's default (an int is a valid
float, a list a valid tuple; ``None`` defaults accept numbers); :func:`check_ranges` enforces minimums
and fractions in ``__post_init__``. Both raise ``ValueError``/``TypeError`` with the option's name,
which the callers turn into one-line errors naming the file or method.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Mapping
from typing import Any


def closest(key: str, valid: Iterable[str]) -> str:
    """'; did you mean X?' for a misspelt key, or ''."""
    near = difflib.get_close_matches(key, list(valid), n=1)
    return f"; did you mean '{near[0]}'?" if near else ""


def _type_name(value: Any) -> str:
    return {bool: "true/false", int: "whole number", float: "number", str: "string"}.get(
        type(value), type(value).__name__
    )


def check_types(defaults: Any, given: Mapping[str, Any]) -> None:
    """Raise TypeError when a given value's type does not fit the default's (``defaults``: a config)."""
    for key, value in given.items():
        default = getattr(defaults, key, None)
        if default is None:
            ok = value is None or (isinstance(value, (int, float, str)) and not isinstance(value, bool))
        elif isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        elif isinstance(default, (tuple, list)):
            ok = isinstance(value, (tuple, list))
        else:
            ok = isinstance(value, type(default))
        if not ok:
            raise TypeError(f"option '{key}' expects a {_type_name(default)}, got {value!r}")


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


def field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]
