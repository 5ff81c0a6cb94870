"""Realised error and gap statistics of a case: what the twin's error model actually produced, and the
same numbers for a real case (no truth) to calibrate it against (README "Twin calibration").

:func:`case_statistics` returns an ordered ``{name: value}``; :data:`DESCRIPTIONS` says what each is.
Truth-based rows need a twin; station rows need stations.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import xarray as xr
from scipy.ndimage import uniform_filter

from ..case import gap_age, valid_smap
from ..io.ismn import StationSeries
from .match import MatchConfig, at_station_cells, match_stations

DESCRIPTIONS: dict[str, str] = {
    "smap_coverage": "usable SMAP, share of land cell-days",
    "revisit_days": "mean days between usable SMAP values of a cell",
    "gap_run_median": "median length of SMAP gap runs (days)",
    "gap_run_p90": "90th percentile of SMAP gap runs (days)",
    "gap_age_1": "share of gap cell-days 1 day from an observation",
    "gap_age_gt60": "share of gap cell-days > 60 days from an observation",
    "smap_ubrmse_truth": "SMAP ubRMSE against truth (pooled, per-pixel means removed)",
    "smap_r_truth": "SMAP R against truth (median over pixels)",
    "error_lag1": "lag-1 autocorrelation of SMAP - truth anomalies",
    "error_corr_1cell": "correlation of SMAP - truth anomalies with the neighbouring cell",
    "error_length_cells": "e-folding distance of that spatial correlation (cells)",
    "smoother_gain": "RMSE reduction of a 3x3 same-day SMAP mean against truth, vs SMAP",
    "noah_r_truth": "Noah R against truth (median over pixels)",
    "noah_ubrmse_truth": "Noah ubRMSE against truth (pooled, per-pixel means removed)",
    "noah_bias_month_sd": "sd over calendar months of Noah's monthly bias against truth (median pixel)",
    "stations": "stations with >= 20 SMAP matches",
    "smap_ubrmse_station_median": "SMAP ubRMSE against stations (median over stations)",
    "smap_ubrmse_station_min": "... smallest station",
    "smap_ubrmse_station_max": "... largest station",
    "smap_r_station_median": "SMAP R against stations (median over stations)",
    "station_bias_sd": "sd over stations of SMAP's bias against them",
}


def _anomalies(x: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # never-valid pixels
        return x - np.nanmean(x, axis=0, keepdims=True)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 10:
        return float("nan")
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


def _per_pixel_r(p: np.ndarray, r: np.ndarray, min_n: int = 30) -> float:
    """Median over pixels (last two axes) of Pearson R along time."""
    ok = np.isfinite(p) & np.isfinite(r)
    n = ok.sum(axis=0)
    p0, r0 = np.where(ok, p, 0.0), np.where(ok, r, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mp, mr = p0.sum(0) / n, r0.sum(0) / n
        cov = (np.where(ok, (p - mp) * (r - mr), 0.0)).sum(0)
        vp = (np.where(ok, (p - mp) ** 2, 0.0)).sum(0)
        vr = (np.where(ok, (r - mr) ** 2, 0.0)).sum(0)
        rr = cov / np.sqrt(vp * vr)
    keep = (n >= min_n) & np.isfinite(rr)
    return float(np.median(rr[keep])) if keep.any() else float("nan")


def _ubrmse(d: np.ndarray) -> float:
    a = _anomalies(d)
    return float(np.sqrt(np.nanmean(a**2)))


def _gap_runs(valid: np.ndarray, land: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lengths of the gap runs and the intervals between valid days, over the land cells."""
    runs: list[np.ndarray] = [np.zeros(0, np.int64)]
    intervals: list[np.ndarray] = [np.zeros(0, np.int64)]
    for iy, ix in zip(*np.nonzero(land)):
        s = valid[:, iy, ix].astype(np.int8)
        d = np.diff(np.r_[1, s, 1])
        runs.append(np.nonzero(d == 1)[0] - np.nonzero(d == -1)[0])
        intervals.append(np.diff(np.nonzero(s)[0]))
    return np.concatenate(runs), np.concatenate(intervals)


def _spatial(a: np.ndarray, max_d: int = 8) -> tuple[float, float]:
    """Correlation of same-day anomalies at distance 1 (x and y pooled) and its e-folding distance."""
    corr = [1.0]
    for d in range(1, max_d + 1):
        pairs = [(a[:, :, :-d], a[:, :, d:]), (a[:, :-d, :], a[:, d:, :])]
        x = np.concatenate([p[0].ravel() for p in pairs])
        y = np.concatenate([p[1].ravel() for p in pairs])
        corr.append(_corr(x, y))
    c = np.array(corr)
    below = np.nonzero(c < np.exp(-1.0))[0]
    if not len(below):
        return float(c[1]), float("inf")
    k = int(below[0])  # interpolate the 1/e crossing between k - 1 and k
    length = (k - 1) + (c[k - 1] - np.exp(-1.0)) / (c[k - 1] - c[k])
    return float(c[1]), float(length)


def case_statistics(
    case: xr.Dataset, stations: Sequence[StationSeries] | None = None, match: MatchConfig | None = None
) -> dict[str, float]:
    """The realised statistics of ``case`` (in memory) and, when given, its stations."""
    land = case["land"].values.astype(bool)
    valid = valid_smap(case).values
    smap = np.where(valid, case["smap"].values.astype(np.float64), np.nan)
    out: dict[str, float] = {"smap_coverage": float(valid[:, land].mean())}
    runs, intervals = _gap_runs(valid, land)
    out["revisit_days"] = float(intervals.mean()) if intervals.size else float("nan")
    out["gap_run_median"] = float(np.median(runs)) if runs.size else float("nan")
    out["gap_run_p90"] = float(np.percentile(runs, 90)) if runs.size else float("nan")
    age = gap_age(valid)[:, land][~valid[:, land]]
    out["gap_age_1"] = float((age == 1).mean()) if age.size else float("nan")
    out["gap_age_gt60"] = float((age > 60).mean()) if age.size else float("nan")
    if "truth" in case:
        truth = case["truth"].values.astype(np.float64)
        err = smap - truth
        out["smap_ubrmse_truth"] = _ubrmse(err)
        out["smap_r_truth"] = _per_pixel_r(smap, truth)
        a = _anomalies(err)
        out["error_lag1"] = _corr(a[:-1].ravel(), a[1:].ravel())
        out["error_corr_1cell"], out["error_length_cells"] = _spatial(a)
        w = valid.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean3 = uniform_filter(np.where(valid, smap, 0.0), (1, 3, 3), mode="constant") / uniform_filter(
                w, (1, 3, 3), mode="constant"
            )
        rmse = np.sqrt(np.nanmean(err**2))
        out["smoother_gain"] = float(1.0 - np.sqrt(np.nanmean(np.where(valid, mean3 - truth, np.nan) ** 2)) / rmse)
        noah = np.where(land, case["noah"].values.astype(np.float64), np.nan)
        out["noah_r_truth"] = _per_pixel_r(noah, truth)
        out["noah_ubrmse_truth"] = _ubrmse(noah - truth)
        months = case.indexes["time"].month
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            monthly = np.stack([np.nanmean((noah - truth)[months == m], axis=0) for m in np.unique(months)])
            out["noah_bias_month_sd"] = float(np.nanmedian(np.nanstd(monthly, axis=0)[land]))
    if stations:
        out.update(_station_statistics(case, smap, stations, match or MatchConfig()))
    return out


def _station_statistics(case, smap, stations, match: MatchConfig) -> dict[str, float]:
    table = match_stations(list(stations), case, match)
    ref = table.ref.T  # (T, S)
    sat = at_station_cells(smap, table)  # (T, S)
    ub, rr, bias = [], [], []
    for k in range(ref.shape[1]):
        ok = np.isfinite(ref[:, k]) & np.isfinite(sat[:, k])
        if ok.sum() < 20:
            continue
        d = sat[ok, k] - ref[ok, k]
        ub.append(np.sqrt(np.mean((d - d.mean()) ** 2)))
        rr.append(np.corrcoef(sat[ok, k], ref[ok, k])[0, 1])
        bias.append(d.mean())
    if not ub:
        return {"stations": 0.0}
    return {
        "stations": float(len(ub)),
        "smap_ubrmse_station_median": float(np.median(ub)),
        "smap_ubrmse_station_min": float(np.min(ub)),
        "smap_ubrmse_station_max": float(np.max(ub)),
        "smap_r_station_median": float(np.median(rr)),
        "station_bias_sd": float(np.std(bias)),
    }


def format_statistics(stats: dict[str, float]) -> str:
    """A two-column text table: description, value."""
    width = max(len(DESCRIPTIONS.get(k, k)) for k in stats)
    return "\n".join(f"{DESCRIPTIONS.get(k, k):<{width}}  {v:.4g}" for k, v in stats.items())
