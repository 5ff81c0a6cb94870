"""Temporal sub-windows of the scored period: the whole period, the four meteorological seasons and
user-defined date ranges. Each is a ``window`` of the results cube; a sample is in a window when its day
is (scores of a season pool that season's days of every year in the period)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ConfigError

SEASONS: dict[str, tuple[int, ...]] = {"DJF": (12, 1, 2), "MAM": (3, 4, 5), "JJA": (6, 7, 8), "SON": (9, 10, 11)}
ALL = "all"


@dataclass(frozen=True)
class Window:
    """Days in ``months`` (a season), or from ``start`` to ``end`` inclusive (a user window), or every
    day (``all``)."""

    name: str
    months: tuple[int, ...] | None = None
    start: str | None = None
    end: str | None = None

    def __post_init__(self) -> None:
        if not self.name or ":" in self.name:
            raise ConfigError(f"window name '{self.name}': must be non-empty and without ':'")
        if (self.start is None) != (self.end is None):
            raise ConfigError(f"window '{self.name}': give both start and end dates")
        if self.start is not None:
            try:
                lo, hi = pd.Timestamp(self.start), pd.Timestamp(self.end)
            except ValueError:
                raise ConfigError(f"window '{self.name}': dates must be YYYY-MM-DD") from None
            if hi < lo:
                raise ConfigError(f"window '{self.name}': end {self.end} is before start {self.start}")

    def mask(self, times: pd.DatetimeIndex) -> np.ndarray:
        """Which of ``times`` are in the window (bool, one per day)."""
        times = pd.DatetimeIndex(times)
        if self.months is not None:
            return np.isin(times.month, self.months)
        if self.start is not None:
            day = times.normalize()
            return np.asarray((day >= pd.Timestamp(self.start)) & (day <= pd.Timestamp(self.end)))
        return np.ones(len(times), dtype=bool)

    @property
    def description(self) -> str:
        if self.months is not None:
            return f"months {', '.join(str(m) for m in self.months)} of every year"
        if self.start is not None:
            return f"{self.start} to {self.end}"
        return "every scored day"


def build_windows(seasons: bool = True, user: tuple[tuple[str, str, str], ...] = ()) -> list[Window]:
    """``all`` first, then the seasons (when ``seasons``), then the user windows ``(name, start, end)``."""
    out = [Window(ALL)]
    if seasons:
        out += [Window(name, months=m) for name, m in SEASONS.items()]
    for name, start, end in user:
        out.append(Window(str(name), start=str(start), end=str(end)))
    names = [w.name for w in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"window name(s) {', '.join(dup)} used twice (seasons are DJF, MAM, JJA, SON)")
    return out
