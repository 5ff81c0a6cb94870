"""Reference products: raw Noah, SMAP alone (no filling) and a SMAP day-of-year climatology fill."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy.ndimage import uniform_filter1d

from ..case import valid_smap
from ..configs import check_ranges
from .base import Method, MethodConfig, register

log = logging.getLogger(__name__)


@dataclass
class NoahRawConfig(MethodConfig):
    passthrough: bool = False


@register
class NoahRaw(Method):
    name = "noah_raw"
    order = 10
    kind = "model"
    halo_days = 0
    Config = NoahRawConfig
    description = "GLDAS Noah regridded to EASE2 M36, unchanged (complete but biased)"

    def _predict(self, case, out):
        return out["noah"].values


@register
class SmapOnly(Method):
    name = "smap_only"
    order = 20
    kind = "observation"
    halo_days = 0
    description = "usable SMAP only, gaps left empty (scores show its coverage honestly)"

    def _predict(self, case, out):
        return np.where(valid_smap(out).values, out["smap"].values, np.nan)


@dataclass
class ClimatologyConfig(MethodConfig):
    window_days: int = 31  # circular moving window over day of year
    min_obs: int = 3  # fewer usable SMAP values in the window -> fall back to Noah

    def __post_init__(self):
        check_ranges(self, minimum={"window_days": 1, "min_obs": 1})


@register
class Climatology(Method):
    name = "climatology"
    order = 30
    halo_days = 0
    Config = ClimatologyConfig
    description = "gaps filled with the SMAP day-of-year climatology of the training period"
    needs_fit = True

    def _fit(self, train: xr.Dataset) -> None:
        v = valid_smap(train).values
        sm = np.where(v, train["smap"].values, 0.0)
        doy = np.minimum(train["time"].dt.dayofyear.values, 365) - 1
        ny, nx = sm.shape[1:]
        sums = np.zeros((365, ny, nx))
        counts = np.zeros((365, ny, nx))
        np.add.at(sums, doy, sm)
        np.add.at(counts, doy, v)
        w = self.config.window_days
        sums = uniform_filter1d(sums, w, axis=0, mode="wrap") * w
        counts = uniform_filter1d(counts, w, axis=0, mode="wrap") * w
        counts = np.round(counts)
        self.clim: np.ndarray = np.where(counts >= self.config.min_obs, sums / np.maximum(counts, 1), np.nan).astype(
            np.float32
        )
        self.fit_info["pixels_without_climatology"] = int(np.isnan(self.clim).all(axis=0)[train["land"].values].sum())

    def _predict(self, case, out):
        doy = np.minimum(out["time"].dt.dayofyear.values, 365) - 1
        clim = self.clim[doy]
        return np.where(np.isfinite(clim), clim, out["noah"].values)


@dataclass
class SmoothedSmapConfig(MethodConfig):
    passthrough: bool = False  # the point is to show what smoothing alone does, SMAP days included
    size: int = 3  # the spatial window, cells (odd)
    max_age: int = 30  # gaps take the nearest day's smoothed value within this many days, else Noah

    def __post_init__(self):
        check_ranges(self, minimum={"size": 1, "max_age": 0})
        if self.size % 2 == 0:
            raise ValueError(f"size must be odd, got {self.size}")


@register
class SmoothedSmap(Method):
    """The smoothing diagnostic: what a plain spatial mean of SMAP achieves with no model at all.

    Each day, every land cell gets the mean of the usable SMAP values in the ``size`` x ``size`` window
    around it (its own value included when usable); a cell with none that day takes the nearest day's
    (past or future, up to ``max_age`` days) smoothed value, else Noah. A fusion method that cannot beat
    this only denoises."""

    name = "smoothed_smap"
    order = 25
    Config = SmoothedSmapConfig
    description = "diagnostic: same-day 3x3 mean of usable SMAP, gaps from the nearest smoothed day (else Noah)"

    @property
    def halo_days(self) -> int:
        return self.config.max_age

    def _predict(self, case, out):
        from scipy.ndimage import uniform_filter

        v = valid_smap(case).values
        sm = np.where(v, case["smap"].values, 0.0).astype(np.float64)
        k = (0, self.config.size, self.config.size)
        total = uniform_filter(sm, size=k, mode="constant")
        count = uniform_filter(v.astype(np.float64), size=k, mode="constant")
        with np.errstate(invalid="ignore", divide="ignore"):
            smooth = np.where(count > 1e-9, total / np.maximum(count, 1e-12), np.nan)
        smooth = np.where(case["land"].values[None], smooth, np.nan)
        filled = nearest_in_time(smooth, self.config.max_age)
        index = case.indexes["time"].get_indexer(out.indexes["time"])
        filled = filled[index]
        return np.where(np.isfinite(filled), filled, out["noah"].values)


def nearest_in_time(field: np.ndarray, max_age: int) -> np.ndarray:
    """Each NaN of ``field`` (time first) replaced by the value of the nearest day with one at that cell
    (the earlier day on ties), if it lies within ``max_age`` days."""
    t = np.arange(field.shape[0])[:, None, None]
    has = np.isfinite(field)
    last = np.maximum.accumulate(np.where(has, t, -(10**9)), axis=0)
    nxt = np.flip(np.minimum.accumulate(np.flip(np.where(has, t, 10**9), 0), axis=0), 0)
    use_last = (t - last) <= (nxt - t)
    src = np.where(use_last, last, nxt)
    age = np.abs(src - t)
    src = np.clip(src, 0, field.shape[0] - 1)
    out = np.take_along_axis(field, src, axis=0)
    return np.where(has, field, np.where(age <= max_age, out, np.nan))
