"""User-facing errors. The CLI prints ``str(err)`` as one line and exits non-zero (no traceback)."""

from __future__ import annotations

from os import PathLike


class StsgError(Exception):
    """Base class of every error a user can cause (bad file, bad config, bad call order)."""


class InputError(StsgError):
    """A bad input file: the message always names the file and, when known, the variable."""

    def __init__(self, path: str | PathLike | None, problem: str, variable: str | None = None):
        self.path = None if path is None else str(path)
        self.variable = variable
        self.problem = problem
        where = self.path or "<in memory>"
        if variable:
            where += f" [{variable}]"
        super().__init__(f"{where}: {problem}")


class CaseError(StsgError):
    """A fusion-case dataset that breaks the convention in :mod:`stsg_bench.case`."""


class ConfigError(StsgError):
    """An unknown method/metric/dataset name, an unknown config key or a bad config value (``key``: the
    config key it is about, when known)."""

    key: str | None = None


class MethodError(StsgError):
    """A method used wrongly (e.g. ``predict`` before ``fit``) or unable to run on a case."""
