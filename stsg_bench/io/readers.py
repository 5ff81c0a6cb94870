"""The reader protocol and registry: a source file or folder -> case variables by role.

A dataset card names, per role, a registered reader and its options::

    [observation]                  # the gappy satellite retrievals: case variables smap, smap_quality (+ land)
    reader = "smap_window_netcdf"
    path = "real/hawaii/smap_l3_v9_hawaii.nc"
    pass = "am_pm"

    [model]                        # the complete model field: case variable noah
    reader = "gldas_window_netcdf"
    path = "real/hawaii/gldas_noah21_hawaii.nc"

A reader is a function ``open(path, window, period, options) -> SourceData`` registered in its own
module with :func:`register_reader`, together with its role and an ``Options`` dataclass whose fields
are the card keys it accepts (unknown keys are rejected when the card is parsed).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xarray as xr

from ..errors import ConfigError
from ..grid import Window

#: role -> the case variables a reader of that role provides (``land`` is optional for observations)
ROLES: dict[str, tuple[str, ...]] = {"observation": ("smap", "smap_quality"), "model": ("noah",)}


@dataclass
class SourceData:
    """What a reader returns: the role's variables on (time, y, x) of the window, and what it noticed
    (files it skipped, days it filled) for the run's notes."""

    data: xr.Dataset
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ReaderSpec:
    name: str
    role: str
    Options: type
    open: Callable[[Path, Window, tuple[str, str] | None, Any], SourceData]
    description: str = ""


READERS: dict[str, ReaderSpec] = {}


def register_reader(name: str, role: str, options: type, description: str = ""):
    """Decorator registering ``open(path, window, period, options) -> SourceData`` as reader ``name``."""
    if role not in ROLES:
        raise ValueError(f"reader '{name}': unknown role '{role}' (valid: {', '.join(ROLES)})")
    if not dataclasses.is_dataclass(options):
        raise TypeError(f"reader '{name}': options must be a dataclass")

    def deco(fn):
        if name in READERS:
            raise ValueError(f"reader '{name}' registered twice")
        READERS[name] = ReaderSpec(name, role, options, fn, description or (fn.__doc__ or "").strip().split("\n")[0])
        return fn

    return deco


def get_reader(name: str, role: str | None = None) -> ReaderSpec:
    """The reader registered as ``name`` (of ``role`` when given); unknown names list the valid ones."""
    valid = [n for n, r in READERS.items() if role is None or r.role == role]
    if name not in valid:
        raise ConfigError(f"unknown {role or ''} reader '{name}' (valid: {', '.join(valid)})".replace("  ", " "))
    return READERS[name]
