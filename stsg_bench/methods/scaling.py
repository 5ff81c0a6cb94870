"""Per-pixel rescaling of Noah to SMAP's climatology: mean/std scaling and linear CDF matching.

Both are fitted, per land pixel, on the days of the training period where SMAP is usable (Noah is
complete), exactly as pytesmo does on a matched pair of series:

* ``mean_std``: ``(noah - mean_n) / std_n * std_s + mean_s`` (population std, as ``pytesmo.scaling.mean_std``);
* ``lin_cdf_match``: percentiles [0, 5, 10, 30, 50, 70, 90, 95, 100] of both series (Matlab-style
  percentile ranks ``100 (i + 0.5) / n``), tied percentile values spread apart by linear interpolation
  between the distinct ones (:func:`untie_percentiles`), a piecewise-linear map between them and linear
  extrapolation beyond the ends with the first/last segment's slope: ``pytesmo.cdf_matching.CDFMatching``
  with these percentiles, no bin resizing and no edge regression (equal to it to 1e-9, tested). Values
  extrapolated out of [0, 1] are clamped like every method's. A pixel whose Noah percentiles are all
  equal keeps raw Noah (pytesmo returns NaN there).

Pixels with fewer than ``min_common_days`` common days fall back to raw Noah (counted in ``fit_info``).
Everything is vectorised over pixels and processed in time blocks, so memory stays bounded.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from ..case import valid_smap
from ..configs import check_ranges
from ..errors import MethodError
from .base import Method, MethodConfig, register

log = logging.getLogger(__name__)
DEFAULT_PERCENTILES = (0.0, 5.0, 10.0, 30.0, 50.0, 70.0, 90.0, 95.0, 100.0)


def matlab_percentiles(values: np.ndarray, percentiles) -> np.ndarray:
    """Percentiles along axis 0 of ``values`` (T, N), NaN ignored, Matlab/IDL style (pytesmo's).

    Returns (P, N); columns with no finite value are NaN."""
    srt = np.sort(values, axis=0)  # NaN sorts last
    n = np.isfinite(srt).sum(axis=0)
    p = np.asarray(percentiles, dtype=np.float64)[:, None]
    pos = p * n[None, :] / 100.0 - 0.5  # fractional index of each percentile
    pos = np.clip(pos, 0.0, np.maximum(n - 1, 0)[None, :])
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, np.maximum(n - 1, 0)[None, :])
    frac = pos - lo
    v_lo = np.take_along_axis(srt, lo, axis=0)
    v_hi = np.take_along_axis(srt, hi, axis=0)
    out = v_lo + frac * (v_hi - v_lo)
    return np.where(n[None, :] > 0, out, np.nan)


def untie_percentiles(perc: np.ndarray, percentiles) -> np.ndarray:
    """Percentile values (P, N) with ties spread apart, as pytesmo does: where a value repeats, the
    repeated percentiles are interpolated linearly between the first occurrence of each distinct value,
    the last distinct value being placed at the last percentile (so nothing is extrapolated)."""
    pct = np.asarray(percentiles, dtype=np.float64)
    out = perc.copy()
    first = np.ones(perc.shape, dtype=bool)
    first[1:] = perc[1:] != perc[:-1]
    n_unique = first.sum(axis=0)
    for col in np.nonzero((n_unique < len(pct)) & (n_unique > 1) & np.isfinite(perc).all(axis=0))[0]:
        idx = np.nonzero(first[:, col])[0]
        knots = pct[idx]
        knots[-1] = pct[-1]
        out[:, col] = np.interp(pct, knots, perc[idx, col])
    return out


def piecewise_linear(x: np.ndarray, xp: np.ndarray, yp: np.ndarray) -> np.ndarray:
    """Map ``x`` (T, N) through per-column knots ``xp``/``yp`` (P, N), extrapolating linearly with the
    end segments. Segments of zero width are skipped."""
    k = (x[:, None, :] >= xp[None, 1:-1, :]).sum(axis=1)  # segment index 0..P-2
    x0, x1, y0, y1 = _take(xp, k), _take(xp, k + 1), _take(yp, k), _take(yp, k + 1)
    dx = x1 - x0
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = np.where(dx > 0, (y1 - y0) / np.where(dx > 0, dx, 1.0), 0.0)
    return y0 + slope * (x - x0)


def _take(knots: np.ndarray, k: np.ndarray) -> np.ndarray:
    """knots (P, N), k (T, N) -> knots[k[t, n], n]."""
    return knots[k, np.arange(knots.shape[1])[None, :]]


@dataclass
class ScalingConfig(MethodConfig):
    min_common_days: int = 30
    block_days: int = 92  # time block for prediction (bounds memory)
    fit_rows: int = 64  # rows per block when fitting a dask-backed (chunked) case

    def __post_init__(self):
        check_ranges(self, minimum={"min_common_days": 2, "block_days": 1, "fit_rows": 1})


@dataclass
class CdfConfig(ScalingConfig):
    percentiles: tuple[float, ...] = field(default=DEFAULT_PERCENTILES)

    def __post_init__(self):
        super().__post_init__()
        p = np.asarray(self.percentiles, dtype=float)
        if p.ndim != 1 or len(p) < 2 or np.any(np.diff(p) <= 0) or p[0] < 0 or p[-1] > 100:
            raise ValueError(f"percentiles must increase within [0, 100], got {self.percentiles}")
        self.percentiles = tuple(float(v) for v in p)


class _PixelScaling(Method):
    """Shared machinery: gather common days per land pixel, fit parameters, map Noah in blocks.

    The fit is one ``xarray.apply_ufunc`` over the time axis, so a dask-backed training case is fitted
    block of rows by block of rows (``fit_rows``) with memory bounded by the block, not the grid."""

    needs_fit = True
    halo_days = 0

    def _fit(self, train: xr.Dataset) -> None:
        land = train["land"].values.astype(bool)
        valid = valid_smap(train)
        noah, smap = train["noah"].where(valid), train["smap"].where(valid)
        if noah.chunks is not None:  # dask: the whole training period per block of rows
            noah, smap = (a.chunk({"time": -1, "y": self.config.fit_rows, "x": -1}) for a in (noah, smap))
        params = xr.apply_ufunc(
            self._fit_kernel,
            noah,
            smap,
            input_core_dims=[["time"], ["time"]],
            output_core_dims=[["param"]],
            dask="parallelized",
            output_dtypes=[np.float64],
            dask_gufunc_kwargs={"output_sizes": {"param": self._n_params() + 1}},
        )
        params = np.asarray(params.values)[land]  # (land pixels, 1 + parameters)
        self.ok = params[:, 0] >= self.config.min_common_days
        self.land = land
        if not self.ok.any():
            raise MethodError(
                f"{self.name}: no land pixel has {self.config.min_common_days} days of usable SMAP in the "
                "training period (lower min_common_days or use a longer period)"
            )
        self._set_params(params[:, 1:])
        self.fit_info = {"pixels": int(land.sum()), "fallback_to_noah": int((~self.ok).sum())}
        if (~self.ok).any():
            log.info(
                "%s: %d of %d land pixels have < %d common days: raw Noah there",
                self.name,
                (~self.ok).sum(),
                land.sum(),
                self.config.min_common_days,
            )

    def _fit_kernel(self, noah: np.ndarray, smap: np.ndarray) -> np.ndarray:
        """(..., T) Noah and SMAP on common days (NaN elsewhere) -> (..., 1 + K): count, parameters."""
        lead, T = noah.shape[:-1], noah.shape[-1]
        n2, s2 = (np.asarray(a, dtype=np.float64).reshape(-1, T).T for a in (noah, smap))  # (T, N)
        out = np.concatenate(
            [np.isfinite(s2).sum(axis=0)[:, None].astype(np.float64), self._params_kernel(n2, s2)], axis=1
        )
        return out.reshape(lead + (out.shape[1],))

    def _n_params(self) -> int:
        raise NotImplementedError

    def _params_kernel(self, noah: np.ndarray, smap: np.ndarray) -> np.ndarray:
        """(T, N) common-day series -> (N, K) parameters."""
        raise NotImplementedError

    def _set_params(self, params: np.ndarray) -> None:
        """Keep the (land pixels, K) parameters; may narrow ``self.ok``."""
        raise NotImplementedError

    def _predict(self, case, out):
        if out["land"].shape != self.land.shape or not (out["land"].values == self.land).all():
            raise MethodError(f"{self.name}: case land mask differs from the one fitted")
        noah = out["noah"].values
        result = noah.copy()
        step = self.config.block_days
        for t0 in range(0, noah.shape[0], step):
            block = noah[t0 : t0 + step][:, self.land].astype(np.float64)
            mapped = self._map(block)
            result[t0 : t0 + step][:, self.land] = np.where(self.ok[None], mapped, block)
        return result

    def _map(self, noah: np.ndarray) -> np.ndarray:
        raise NotImplementedError


@register
class MeanStd(_PixelScaling):
    name = "mean_std"
    order = 40
    Config = ScalingConfig
    description = "Noah rescaled per pixel to SMAP's mean and standard deviation (fills gaps)"

    def _n_params(self):
        return 4

    def _params_kernel(self, noah, smap):
        with warnings.catch_warnings():  # pixels without common days are all-NaN (and not ok)
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.stack([np.nanmean(noah, 0), np.nanstd(noah, 0), np.nanmean(smap, 0), np.nanstd(smap, 0)], axis=1)

    def _set_params(self, params):
        self.mean_n, self.std_n, self.mean_s, self.std_s = params.T
        self.ok &= self.std_n > 0

    def _map(self, noah):
        with np.errstate(invalid="ignore", divide="ignore"):
            return (noah - self.mean_n) / self.std_n * self.std_s + self.mean_s


@register
class LinCdfMatch(_PixelScaling):
    name = "lin_cdf_match"
    order = 50
    Config = CdfConfig
    description = "Noah CDF-matched per pixel to SMAP (piecewise linear over 9 percentiles, pytesmo-style)"

    def _n_params(self):
        return 2 * len(self.config.percentiles)

    def _params_kernel(self, noah, smap):
        pct = self.config.percentiles
        return np.concatenate([untie_percentiles(matlab_percentiles(v, pct), pct) for v in (noah, smap)]).T

    def _set_params(self, params):
        P = len(self.config.percentiles)
        self.xp, self.yp = params[:, :P].T.copy(), params[:, P:].T.copy()
        self.ok &= np.isfinite(self.xp).all(0) & (np.diff(self.xp, axis=0) >= 0).all(0) & (self.xp[-1] > self.xp[0])

    def _map(self, noah):
        xp = np.where(self.ok[None], self.xp, np.arange(self.xp.shape[0])[:, None])
        yp = np.where(self.ok[None], self.yp, 0.0)
        return piecewise_linear(noah, xp, yp)
