"""Plug-ins from outside the package: methods, metrics and readers registered by other distributions.

A plug-in package declares entry points in one of the groups below; each names a module (or an object in
it) whose import registers what it defines with the usual decorators (``@register``,
``@register_metric``, ``@register_reader``)::

    [project.entry-points."stsg_bench.methods"]
    my_method = "my_package.methods"

The registries load their group when they are first imported (:func:`load_entry_points`); the command
line also takes ``--plugin MODULE`` (repeatable) for a module that is not installed as a distribution,
imported before the command runs (the current folder is searched too). A plug-in that fails to import is
reported in one line: a warning for an installed entry point (the rest of stsg-bench keeps working), an
error for ``--plugin``.
"""

from __future__ import annotations

import importlib
import logging
import sys
from importlib.metadata import entry_points
from pathlib import Path

from .errors import ConfigError

log = logging.getLogger(__name__)

GROUPS = ("stsg_bench.methods", "stsg_bench.metrics", "stsg_bench.readers")
#: group -> entry points loaded (name -> "module:object"), and those that failed (name -> reason)
LOADED: dict[str, dict[str, str]] = {}
FAILED: dict[str, str] = {}


def load_entry_points(group: str) -> None:
    """Import every entry point of ``group`` once (their imports register what they define)."""
    if group in LOADED:
        return
    LOADED[group] = {}
    for ep in entry_points(group=group):
        try:
            ep.load()
        except Exception as exc:  # noqa: BLE001 - a broken plug-in must not break the built-ins
            reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            FAILED[f"{group}:{ep.name}"] = reason
            log.warning("plug-in %s = %s (entry point group %s) failed to load: %s", ep.name, ep.value, group, reason)
            continue
        LOADED[group][ep.name] = ep.value


def load_module(name: str) -> None:
    """``--plugin NAME``: import module ``NAME`` (installed, on ``PYTHONPATH`` or in the current folder)."""
    cwd = str(Path.cwd())
    added = cwd not in sys.path
    if added:
        sys.path.append(cwd)
    try:
        importlib.import_module(name)
    except Exception as exc:  # noqa: BLE001 - any failure of the user's module is one line
        detail = str(exc).splitlines()[0] if str(exc) else ""
        raise ConfigError(f"--plugin {name}: could not import it ({type(exc).__name__}: {detail})") from None
    finally:
        if added:
            sys.path.remove(cwd)
