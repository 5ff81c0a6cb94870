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
