"""Simulated-gaps experiment: hide part of the usable SMAP (random days and square blocks), fuse the
thinned case, then score the reconstruction against the hidden SMAP values (reference ``hidden_smap``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..case import valid_smap
from ..gaps import hide_days_and_blocks


@dataclass
class SimGapConfig:
    fraction: float = 0.2  # share of usable SMAP values to hide
    block: int = 8  # block size (cells)
    day_fraction: float = 0.1  # share of days whose usable SMAP is hidden completely
    seed: int = 0


def hide_smap(case: xr.Dataset, cfg: SimGapConfig | None = None, period=None) -> tuple[xr.Dataset, xr.DataArray]:
    """Return (thinned case, hidden mask). Hidden values become NaN and unusable in the thinned case.
    Only days inside ``period`` (default: all) are thinned."""
    cfg = cfg or SimGapConfig()
    rng = np.random.default_rng([cfg.seed, 7])
    valid = valid_smap(case).values
    in_period = (
        np.ones(valid.shape[0], bool)
        if period is None
        else case.indexes["time"].isin(case.sel(time=slice(*period)).indexes["time"])
    )
    hidden = hide_days_and_blocks(valid, np.nonzero(in_period)[0], cfg.fraction, cfg.block, cfg.day_fraction, rng)
    thinned = case.copy()
    thinned["smap"] = case["smap"].where(~hidden)
    thinned["smap_quality"] = case["smap_quality"] & ~hidden
    mask = xr.DataArray(hidden, dims=("time", "y", "x"), coords={"time": case["time"]}, name="hidden")
    return thinned, mask
