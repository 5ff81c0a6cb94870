"""Scoring loop: products x references x groups x splits -> one results ``xarray.Dataset``.

Results convention (written by :func:`save_results`, read by :func:`open_results`)::

    value, ci_lower, ci_upper   (method, reference, group, split, metric)
    n                           (method, reference, group, split)   matched samples (stations for
                                                                     group 'station_median')
    station_status              (method, station)                    ok / ocean_cell / too_few_obs ...

* ``reference``: ``insitu`` (ISMN daily means), ``truth`` (synthetic twin, every land pixel),
  ``hidden_smap`` (the simulated-gaps experiment).
* ``group``: ``pooled`` (all matched samples: the paper's table), ``station_median``,
  ``network:NAME``, ``station:NETWORK/STATION/SENSOR``.
* ``split``: ``all``, ``smap_valid`` (days SMAP was usable in that cell), ``smap_gap`` (the others).

Each product is scored on its own matched samples (n is reported); the gap-aware split is what makes
gap-filling methods comparable.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from .. import __version__
from ..case import valid_smap
from ..errors import InputError, StsgError
from .match import OK, StationTable, at_stations
from .metrics import (
    Moments,
    anomalies,
    bootstrap_ci,
    get_metrics,
    score_moments,
    split_moments,
)

log = logging.getLogger(__name__)
SPLITS = ("all", "smap_valid", "smap_gap")
RESULTS_VERSION = 1


@dataclass
class ScoreConfig:
    metrics: list[str] | None = None  # default: all registered
    alpha: float = 0.05
    min_obs: int = 20
    bootstrap: int = 0  # > 0: percentile bootstrap CIs for the pooled group
    anomalies: str | None = None  # None | 'moving_average' | 'climatology'
    store_series: bool | None = None  # keep matched station series (default: when small)
    splits: tuple[str, ...] = field(default=SPLITS)
    engine: str = "auto"  # moments engine: auto | numpy | fused (see metrics.split_moments)


def _check_product(name: str, da: xr.DataArray, case: xr.Dataset) -> xr.DataArray:
    if da.dims != ("time", "y", "x"):
        raise InputError(name, f"product dims {da.dims}, expected ('time', 'y', 'x')", "sm")
    if da.sizes["y"] != case.sizes["y"] or da.sizes["x"] != case.sizes["x"] or (
        "row" in da.coords and not np.array_equal(da["row"].values, case["row"].values)
    ) or ("col" in da.coords and not np.array_equal(da["col"].values, case["col"].values)):
        raise InputError(name, "product is on a different grid window than the case", "sm")
    missing = pd.DatetimeIndex(da["time"].values).difference(case.indexes["time"])
    if len(missing):
        raise InputError(name, f"{len(missing)} product days are not in the case (first {missing[0].date()})", "time")
    return da


def _split_masks(valid: np.ndarray, splits) -> dict[str, np.ndarray]:
    table = {"all": np.ones_like(valid, dtype=bool), "smap_valid": valid, "smap_gap": ~valid}
    return {s: table[s] for s in splits}


def _maybe_anom(x: np.ndarray, cfg: ScoreConfig, times: pd.DatetimeIndex) -> np.ndarray:
    if cfg.anomalies is None:
        return x
    return anomalies(x, cfg.anomalies, doy=times.day_of_year.values)


def _empty(methods, reference, groups, splits, metrics) -> xr.Dataset:
    shape = (len(methods), 1, len(groups), len(splits), len(metrics))
    coords = {"method": methods, "reference": [reference], "group": groups, "split": list(splits), "metric": [m.name for m in metrics]}
    nanv = lambda: np.full(shape, np.nan)  # noqa: E731
    return xr.Dataset(
        {
            "value": (("method", "reference", "group", "split", "metric"), nanv()),
            "ci_lower": (("method", "reference", "group", "split", "metric"), nanv()),
            "ci_upper": (("method", "reference", "group", "split", "metric"), nanv()),
            "n": (("method", "reference", "group", "split"), np.zeros(shape[:-1], dtype=np.int64)),
        },
        coords=coords,
    )


def _fill(ds: xr.Dataset, mi: int, gi, si: int, scores: dict, n) -> None:
    for k, name in enumerate(ds["metric"].values):
        v, lo, hi = scores[str(name)]
        ds["value"].values[mi, 0, gi, si, k] = v
        ds["ci_lower"].values[mi, 0, gi, si, k] = lo
        ds["ci_upper"].values[mi, 0, gi, si, k] = hi
    ds["n"].values[mi, 0, gi, si] = n


def _fill_groups(bufs, mi: int, si: int, ps: Moments, net_idx: np.ndarray, n_net: int, metrics, cfg: "ScoreConfig") -> None:
    """Score pooled, per-network and per-station groups of one product and split in one call.

    Group rows: 0 pooled, 1 station median, 2.. networks, then stations (those with >= min_obs)."""
    value, lower, upper, count = bufs
    in_net = net_idx >= 0

    def stacked(a):
        a = np.asarray(a, dtype=np.float64)
        net = np.bincount(net_idx[in_net], weights=a[in_net], minlength=n_net) if n_net else np.zeros(0)
        return np.concatenate([[a.sum()], net, a])

    mom = Moments(*(stacked(getattr(ps, f)) for f in ("n", "sp", "sr", "spp", "srr", "spr")))
    mom.n = np.round(mom.n).astype(np.int64)
    scores = score_moments(mom, metrics, cfg.alpha)
    enough = np.nonzero(np.asarray(ps.n) >= cfg.min_obs)[0]
    rows = np.concatenate([[0], np.arange(2, 2 + n_net), 2 + n_net + enough]).astype(np.int64)
    src = np.concatenate([[0], np.arange(1, 1 + n_net), 1 + n_net + enough]).astype(np.int64)
    for k, met in enumerate(metrics):
        v, lo, hi = scores[met.name]
        value[mi, 0, rows, si, k], lower[mi, 0, rows, si, k], upper[mi, 0, rows, si, k] = v[src], lo[src], hi[src]
        station_values = v[1 + n_net + enough]
        value[mi, 0, 1, si, k] = np.nanmedian(station_values) if station_values.size else np.nan
    count[mi, 0, rows, si] = mom.n[src]
    count[mi, 0, 1, si] = len(enough)


def score_insitu(products: dict[str, xr.DataArray], case: xr.Dataset, table: StationTable, cfg: ScoreConfig | None = None) -> xr.Dataset:
    """Score every product against the matched in-situ stations."""
    cfg = cfg or ScoreConfig()
    metrics = get_metrics(cfg.metrics)
    methods = list(products)
    networks = sorted(set(np.array(table.network)[table.usable])) if len(table.keys) else []
    groups = ["pooled", "station_median"] + [f"network:{n}" for n in networks] + [f"station:{k}" for k in table.keys]
    ds = _empty(methods, "insitu", groups, cfg.splits, metrics)
    status = np.array([[s for s in table.status] for _ in methods], dtype=object).reshape(len(methods), len(table.keys))
    valid_case = valid_smap(case)
    net_idx = np.array([networks.index(n) if n in networks else -1 for n in table.network], dtype=np.int64)
    bufs = (ds["value"].values, ds["ci_lower"].values, ds["ci_upper"].values, ds["n"].values)
    series_p = []
    boot_lo = np.full((len(methods), len(metrics)), np.nan)
    boot_hi = boot_lo.copy()
    for mi, name in enumerate(methods):
        da = _check_product(name, products[name], case)
        times = pd.DatetimeIndex(da["time"].values)
        tidx = table.times.get_indexer(times)
        ref = _maybe_anom(table.ref[:, tidx], cfg, times)
        prod = _maybe_anom(at_stations(da, table), cfg, times)
        series_p.append((tidx, prod))
        valid = at_stations(valid_case.sel(time=times).astype(np.float32), table) > 0.5
        usable = table.usable[:, None]
        status[mi, (status[mi] == OK) & ~np.isfinite(prod).any(axis=1)] = "all_nan_product"
        ok_st = np.array([s == OK for s in status[mi]])[:, None]
        scored = np.where(usable & ok_st, prod, np.nan)
        m_all, m_valid = split_moments(scored, ref, valid, cfg.engine)
        split_moms = {"all": m_all, "smap_valid": m_valid, "smap_gap": m_all - m_valid}
        for si, split in enumerate(cfg.splits):
            ps = split_moms[split]  # (S,) per-station moments
            if split == "all":
                for k in np.nonzero(ok_st[:, 0] & (ps.n < cfg.min_obs))[0]:
                    status[mi, k] = "too_few_obs"
            _fill_groups(bufs, mi, si, ps, net_idx, len(networks), metrics, cfg)
            if cfg.bootstrap and split == "all":
                mask = usable & ok_st & np.isfinite(prod) & np.isfinite(ref)
                boot = bootstrap_ci(prod[mask], ref[mask], metrics, cfg.bootstrap, cfg.alpha)
                for k, met in enumerate(metrics):
                    boot_lo[mi, k], boot_hi[mi, k] = boot[met.name]
    ds = ds.assign_coords(
        station=[str(k) for k in table.keys],
        station_network=("station", [str(n) for n in table.network]),
        station_lat=("station", table.lat),
        station_lon=("station", table.lon),
    )
    ds["station_status"] = (("method", "station"), status.astype(str))
    if cfg.bootstrap:
        attrs = {"long_name": f"percentile bootstrap CI ({cfg.bootstrap} replicates), in-situ, pooled, split all"}
        ds["boot_lower"] = (("method", "metric"), boot_lo, attrs)
        ds["boot_upper"] = (("method", "metric"), boot_hi, attrs)
    store = cfg.store_series if cfg.store_series is not None else len(methods) * table.ref.size <= 5_000_000
    if store and len(table.keys):
        ds["insitu_series"] = (("station", "series_time"), table.ref)
        arr = np.full((len(methods),) + table.ref.shape, np.nan)
        for mi, (tidx, prod) in enumerate(series_p):
            arr[mi][:, tidx] = prod if cfg.anomalies is None else np.nan
        ds["product_series"] = (("method", "station", "series_time"), arr.astype(np.float32))
        ds = ds.assign_coords(series_time=table.times)
    return ds


def score_fields(products: dict[str, xr.DataArray], case: xr.Dataset, reference: xr.DataArray, reference_name: str,
                 mask: xr.DataArray | None = None, cfg: ScoreConfig | None = None, splits: tuple[str, ...] | None = None) -> xr.Dataset:
    """Score products against a gridded reference over land pixels (pooled over pixels and days)."""
    cfg = cfg or ScoreConfig()
    metrics = get_metrics(cfg.metrics)
    splits = splits or cfg.splits
    methods = list(products)
    ds = _empty(methods, reference_name, ["pooled"], splits, metrics)
    land = case["land"].values.astype(bool)
    valid_case = valid_smap(case)
    for mi, name in enumerate(methods):
        da = _check_product(name, products[name], case)
        times = da.indexes["time"]
        p = da.values[:, land]
        r = reference.sel(time=times).values[:, land]
        base = np.ones_like(p, dtype=bool) if mask is None else mask.sel(time=times).values[:, land]
        valid = valid_case.sel(time=times).values[:, land]
        for si, (split, smask) in enumerate(_split_masks(valid, splits).items()):
            mom = Moments.from_pairs(p, r, base & smask, axis=None)
            _fill(ds, mi, 0, si, score_moments(mom, metrics, cfg.alpha), mom.n)
    return ds


def combine(results: list[xr.Dataset], attrs: dict | None = None) -> xr.Dataset:
    """Merge per-reference results into one Dataset (outer join over groups and splits)."""
    if not results:
        raise StsgError("nothing was scored")
    core = [r[["value", "ci_lower", "ci_upper", "n"]] for r in results]
    out = xr.concat(core, dim="reference", join="outer", fill_value={"n": 0})
    out["n"] = out["n"].fillna(0).astype(np.int64)
    out = out.reindex(group=sorted(out["group"].values, key=_group_order), split=[s for s in SPLITS if s in out["split"].values])
    for r in results:
        extra = [v for v in r.data_vars if v not in ("value", "ci_lower", "ci_upper", "n")]
        if extra:
            out = xr.merge([out, r[extra]], compat="override", join="outer")
        for k, v in r.attrs.items():
            out.attrs[k] = v
    out.attrs.update(
        {
            "Conventions": "CF-1.8",
            "title": "stsg-bench validation results",
            "source_software": f"stsg-bench {__version__}",
            "results_version": RESULTS_VERSION,
            "sign_convention": "bias = product - reference",
            "units": "bias, RMSE, ubRMSE in m3 m-3; R dimensionless",
            **(attrs or {}),
        }
    )
    out["value"].attrs = {"long_name": "metric value"}
    out["ci_lower"].attrs = {"long_name": "lower bound of the analytic confidence interval"}
    out["ci_upper"].attrs = {"long_name": "upper bound of the analytic confidence interval"}
    out["n"].attrs = {"long_name": "matched samples (stations for group station_median)"}
    return out


def _group_order(g: str) -> tuple:
    head = {"pooled": 0, "station_median": 1}.get(g)
    if head is not None:
        return (head, "")
    return (2 if g.startswith("network:") else 3, g)


def save_results(ds: xr.Dataset, path) -> None:
    from ..io.write import write_netcdf_atomic

    enc = {v: {"zlib": True, "complevel": 1} for v in ds.data_vars if ds[v].dtype.kind == "f"}
    write_netcdf_atomic(ds, path, encoding=enc)


REQUIRED_VARS = ("value", "ci_lower", "ci_upper", "n")


def open_results(path) -> xr.Dataset:
    """Load a results file, checking it is one this version understands."""
    from ..io.write import open_netcdf

    ds = open_netcdf(path, "results file").load()
    version = ds.attrs.get("results_version")
    if version is None or int(version) != RESULTS_VERSION:
        raise InputError(path, f"results_version {version!r}: written by another stsg-bench version (expected {RESULTS_VERSION})", "results_version")
    missing = [v for v in REQUIRED_VARS if v not in ds]
    if missing:
        raise InputError(path, f"missing results variable(s) {', '.join(missing)}", missing[0])
    if "metric" not in ds.dims or ds.sizes["metric"] == 0:
        raise InputError(path, "no metrics in results", "metric")
    return ds
