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
* ``split``: ``all``, ``smap_valid`` (days SMAP was usable in that cell), ``smap_gap`` (the others);
  gridded references may add gap-age bins ``gap_age:1``, ``gap_age:2-3``, ``gap_age:4-7``,
  ``gap_age:8-30``, ``gap_age:31-60``, ``gap_age:>60`` (days to the nearest usable SMAP value of the
  same cell, before or after; :func:`stsg_bench.case.gap_age`).

Each product is scored on its own matched samples (n is reported); the gap-aware split is what makes
gap-filling methods comparable.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from .. import __version__, threads
from ..case import gap_age, valid_smap
from ..errors import InputError, StsgError
from .match import OK, StationTable, at_station_cells
from .metrics import (
    METRICS,
    STATISTICS,
    Moments,
    anomalies,
    bootstrap_ci,
    center,
    get_metrics,
    score_moments,
    split_moments,
)
from .sample_metrics import _Tcol, resample_counts
from .windows import ALL, Window

log = logging.getLogger(__name__)
SPLITS = ("all", "smap_valid", "smap_gap")
#: gap-age bins (days to the nearest usable SMAP value, inclusive; None: no upper bound)
GAP_AGE_BINS: dict[str, tuple[int, int | None]] = {
    "gap_age:1": (1, 1),
    "gap_age:2-3": (2, 3),
    "gap_age:4-7": (4, 7),
    "gap_age:8-30": (8, 30),
    "gap_age:31-60": (31, 60),
    "gap_age:>60": (61, None),
}
GAP_AGE_SPLITS = tuple(GAP_AGE_BINS)
#: 3: the products' dimension is ``product`` (2: ``method``; read and renamed)
RESULTS_VERSION = 4
READS_RESULTS = (2, 3, 4)  # 4: CF-1.8 (character-array strings, int32 counts, time bounds); 2 renamed on reading
#: dimensions of the scores (``n`` has all but ``metric``)
DIMS = ("product", "reference", "group", "split", "window", "metric")


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
    windows: list[Window] | None = None  # temporal sub-windows (default: the whole period only)
    tc_partner: str | None = None  # the third product of triple collocation (in-situ, product, partner)
    tc_bootstrap: int = 1000  # bootstrap resamples for the TC intervals (0: none)
    paired_bootstrap: int = 0  # > 0: gridded references also compare every product pair (field_paired)


def _check_product(name: str, da: xr.DataArray, case: xr.Dataset) -> xr.DataArray:
    if da.dims != ("time", "y", "x"):
        raise InputError(name, f"product dims {da.dims}, expected ('time', 'y', 'x')", "sm")
    if (
        da.sizes["y"] != case.sizes["y"]
        or da.sizes["x"] != case.sizes["x"]
        or ("row" in da.coords and not np.array_equal(da["row"].values, case["row"].values))
        or ("col" in da.coords and not np.array_equal(da["col"].values, case["col"].values))
    ):
        raise InputError(name, "product is on a different grid window than the case", "sm")
    missing = pd.DatetimeIndex(da["time"].values).difference(case.indexes["time"])
    if len(missing):
        raise InputError(name, f"{len(missing)} product days are not in the case (first {missing[0].date()})", "time")
    return da


def _split_masks(valid: np.ndarray, splits, age: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Boolean masks of the named splits; gap-age bins need ``age`` (days to the nearest valid day)."""
    out = {}
    for s in splits:
        if s in GAP_AGE_BINS:
            if age is None:
                raise StsgError(f"split '{s}' needs the gap age of every pixel")
            lo, hi = GAP_AGE_BINS[s]
            out[s] = (age >= lo) & (age <= (hi if hi is not None else np.iinfo(np.int64).max))
        else:
            out[s] = {"all": np.ones_like(valid, dtype=bool), "smap_valid": valid, "smap_gap": ~valid}[s]
    return out


def _maybe_anom(x: np.ndarray, cfg: ScoreConfig, times: pd.DatetimeIndex) -> np.ndarray:
    if cfg.anomalies is None:
        return x
    return anomalies(x, cfg.anomalies, doy=times.day_of_year.values)


def _empty(methods, reference, groups, splits, metrics, windows=(ALL,)) -> xr.Dataset:
    shape = (len(methods), 1, len(groups), len(splits), len(windows), len(metrics))
    coords = {
        "product": methods,
        "reference": [reference],
        "group": groups,
        "split": list(splits),
        "window": list(windows),
        "metric": [m.name for m in metrics],
        "metric_units": ("metric", [m.units for m in metrics], {"long_name": "units of each metric"}),
    }
    nanv = lambda dtype=np.float64: np.full(shape, np.nan, dtype)  # noqa: E731
    return xr.Dataset(
        {
            "value": (DIMS, nanv()),
            # interval bounds in float32 (7 significant digits): a third less memory for the dense cube
            "ci_lower": (DIMS, nanv(np.float32)),
            "ci_upper": (DIMS, nanv(np.float32)),
            "n": (DIMS[:-1], np.zeros(shape[:-1], dtype=np.int64)),
        },
        coords=coords,
    )


def _fill(ds: xr.Dataset, mi: int, gi, si: int, wi: int, scores: dict, n) -> None:
    for k, name in enumerate(ds["metric"].values):
        v, lo, hi = scores[str(name)]
        ds["value"].values[mi, 0, gi, si, wi, k] = v
        ds["ci_lower"].values[mi, 0, gi, si, wi, k] = lo
        ds["ci_upper"].values[mi, 0, gi, si, wi, k] = hi
    ds["n"].values[mi, 0, gi, si, wi] = n


def _fill_groups(bufs, mis: np.ndarray, mom: Moments, onehot: np.ndarray, metrics, cfg: ScoreConfig) -> None:
    """Score pooled, station-median, per-network and per-station groups of several products and all
    splits at once. ``mom`` holds per-station moments shaped (product, split, station); ``onehot``
    (station, network) assigns stations to networks. Group rows: 0 pooled, 1 station median,
    2.. networks, then stations (scored when they have >= min_obs samples)."""
    value, lower, upper, count = bufs
    n_net = onehot.shape[1]

    def stacked(a):
        a = np.asarray(a, dtype=np.float64)
        return np.concatenate([a.sum(axis=-1, keepdims=True), a @ onehot, a], axis=-1)

    grouped = mom.reduce(stacked)
    grouped.n = np.round(grouped.n).astype(np.int64)
    scores = score_moments(grouped, metrics, cfg.alpha)
    enough = np.asarray(mom.n) >= cfg.min_obs  # (P, splits, S)
    keep = np.concatenate([np.ones(enough.shape[:-1] + (1 + n_net,), bool), enough], axis=-1)
    rows = np.concatenate([[0], np.arange(2, 2 + n_net + enough.shape[-1])])
    at = (mis[:, None], 0, rows[None, :])
    for k, met in enumerate(metrics):
        v, lo, hi = (np.where(keep, a, np.nan).transpose(0, 2, 1) for a in scores[met.name])
        value[at + (slice(None), k)], lower[at + (slice(None), k)], upper[at + (slice(None), k)] = v, lo, hi
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN station sets give NaN
            value[mis, 0, 1, :, k] = np.nanmedian(v[:, 1 + n_net :, :], axis=1)
    count[at] = np.where(keep, grouped.n, 0).transpose(0, 2, 1)
    count[mis, 0, 1, :] = enough.sum(axis=-1)


def _valid_at_stations(case: xr.Dataset, times: pd.DatetimeIndex, table: StationTable) -> np.ndarray:
    """(T, S) bool: SMAP usable in each station's cell (:func:`stsg_bench.case.valid_smap` at the cells)."""
    sub = case if case.indexes["time"].equals(times) else case.sel(time=times)
    return at_station_cells(valid_smap(sub), table)


def _time_groups(products: dict[str, xr.DataArray]) -> list[tuple[pd.DatetimeIndex, list[str]]]:
    """Products grouped by identical time axes (usually one group), in the products' order."""
    groups: list[tuple[pd.DatetimeIndex, list[str]]] = []
    for name, da in products.items():
        times = pd.DatetimeIndex(da["time"].values)
        for gt, names in groups:
            if gt.equals(times):
                names.append(name)
                break
        else:
            groups.append((times, [name]))
    return groups


def score_insitu(
    products: dict[str, xr.DataArray],
    case: xr.Dataset,
    table: StationTable,
    cfg: ScoreConfig | None = None,
    reference_name: str = "insitu",
) -> xr.Dataset:
    """Score every product against the matched in-situ stations.

    Products sharing a time axis are gathered at the station cells into one (product, time, station)
    block and summed in one pass per window (:func:`split_moments`); every group and split is then
    scored from those sums in one vectorised call. Groups: pooled, station median, one per network and
    per stratum of the stations' ISMN metadata (:func:`stsg_bench.validation.strata.station_strata`),
    one per station. Sample metrics (ranks, triple collocation) are computed from the pairs of each
    group (:func:`_fill_samples`)."""
    cfg = cfg or ScoreConfig()
    metrics = get_metrics(cfg.metrics)
    methods = list(products)
    checked = {name: _check_product(name, products[name], case) for name in methods}
    collections = _collections(table)
    groups = ["pooled", "station_median"] + list(collections) + [f"station:{k}" for k in table.keys]
    windows = cfg.windows or [Window(ALL)]
    ds = _empty(methods, reference_name, groups, cfg.splits, metrics, [w.name for w in windows])
    status = np.array([list(table.status)] * len(methods), dtype=object).reshape(len(methods), len(table.keys))
    onehot = np.stack(list(collections.values()), axis=1).astype(np.float64) if collections else None
    if onehot is None:
        onehot = np.zeros((len(table.keys), 0))
    bufs = (ds["value"].values, ds["ci_lower"].values, ds["ci_upper"].values, ds["n"].values)
    series_p = {}
    boot_lo = np.full((len(methods), len(metrics)), np.nan)
    boot_hi = boot_lo.copy()
    for times, names in _time_groups(checked):
        mis = np.array([methods.index(n) for n in names])
        tidx = table.times.get_indexer(times)
        ref = _maybe_anom(table.ref[:, tidx], cfg, times)  # (S, T)
        ref = np.ascontiguousarray(np.where(table.usable[:, None], ref, np.nan).T)  # (T, S)
        valid = _valid_at_stations(case, times, table)
        dtype = np.result_type(*(checked[n].dtype for n in names))
        prods = np.empty((len(names), len(times), len(table.keys)), dtype)  # (P, T, S), product dtype
        for j, n in enumerate(names):
            at_station_cells(checked[n].values.astype(dtype, copy=False), table, out=prods[j])
        if cfg.anomalies is not None:
            prods = np.moveaxis(_maybe_anom(np.moveaxis(prods, 1, -1), cfg, times), -1, 1)
        partner = names.index(cfg.tc_partner) if cfg.tc_partner in names else None
        for wi, window in enumerate(windows):
            ref_w = np.where(window.mask(times)[:, None], ref, np.nan) if window.name != ALL else ref
            sums = split_moments(prods, ref_w, valid, cfg.engine, axis=1)  # (P, S) each
            if window.name == ALL:
                st = status[mis]
                st[(st == OK) & (sums.n_product == 0)] = "all_nan_product"
                st[(st == OK) & (sums.all.n < cfg.min_obs)] = "too_few_obs"
                status[mis] = st
            by_split = {"all": sums.all, "smap_valid": sums.valid, "smap_gap": sums.gap}
            stacked = {f: np.stack([getattr(by_split[s], f) for s in cfg.splits], axis=1) for f in STATISTICS}
            mom = Moments(**stacked, kp=sums.all.kp, kr=sums.all.kr)
            at_w = tuple(b[:, :, :, :, wi] for b in bufs)  # views: this window's slice of the cube
            _fill_groups(at_w, mis, mom, onehot, metrics, cfg)
            boot = cfg.tc_bootstrap if window.name == ALL else 0  # TC intervals on the whole period only
            _fill_samples(at_w, mis, prods, ref_w, valid, partner, onehot, metrics, cfg, boot)
        for j, (mi, name) in enumerate(zip(mis, names)):
            series_p[name] = (tidx, prods[j].T)
            if cfg.bootstrap:
                mask = np.isfinite(prods[j]) & np.isfinite(ref)
                boot_ci = bootstrap_ci(prods[j][mask], ref[mask], metrics, cfg.bootstrap, cfg.alpha)
                for k, met in enumerate(metrics):
                    boot_lo[mi, k], boot_hi[mi, k] = boot_ci[met.name]
    ds = ds.assign_coords(
        station=[str(k) for k in table.keys],
        station_network=("station", [str(n) for n in table.network], {"long_name": "ISMN network of the station"}),
        station_lat=("station", table.lat, {"standard_name": "latitude", "units": "degrees_north"}),
        station_lon=("station", table.lon, {"standard_name": "longitude", "units": "degrees_east"}),
    )
    ds["station_status"] = (
        ("product", "station"),
        status.astype(str),
        {"long_name": "why a station was or was not scored (ok, ocean_cell, too_few_obs, ...)"},
    )
    if cfg.bootstrap:
        attrs = {"long_name": f"percentile bootstrap CI ({cfg.bootstrap} replicates), in-situ, pooled, split all"}
        ds["boot_lower"] = (("product", "metric"), boot_lo, attrs)
        ds["boot_upper"] = (("product", "metric"), boot_hi, attrs)
    store = cfg.store_series if cfg.store_series is not None else len(methods) * table.ref.size <= 5_000_000
    if store and len(table.keys):
        ds["insitu_series"] = (("station", "series_time"), table.ref, _series_attrs("in-situ soil moisture"))
        arr = np.full((len(methods),) + table.ref.shape, np.nan)
        for mi, name in enumerate(methods):
            tidx, prod = series_p[name]
            arr[mi][:, tidx] = prod if cfg.anomalies is None else np.nan
        ds["product_series"] = (
            ("product", "station", "series_time"),
            arr.astype(np.float32),
            _series_attrs("product soil moisture at the station's cell"),
        )
        ds = ds.assign_coords(series_time=("series_time", table.times, {"standard_name": "time", "axis": "T"}))
    return ds


def _series_attrs(long_name: str) -> dict[str, str]:
    """CF attributes of the matched series stored in results (the values that were scored)."""
    return {
        "long_name": f"{long_name}, matched and scored",
        "standard_name": "volume_fraction_of_condensed_water_in_soil",
        "units": "m3 m-3",
    }


def _collections(table: StationTable) -> dict[str, np.ndarray]:
    """Groups of usable stations beyond pooled: ``network:NAME`` and the ISMN-metadata strata
    (``land_cover:``, ``climate:``, ``soil:``) -> (S,) membership; a station may be in several."""
    usable = np.asarray(table.usable, dtype=bool)
    labels: dict[str, np.ndarray] = {}
    if not len(table.keys):
        return labels
    for n in sorted(set(np.array(table.network)[usable])):
        labels[f"network:{n}"] = usable & (np.array(table.network) == n)
    for key in sorted({k for st in table.strata for k in st}):
        values = [st.get(key) for st in table.strata]
        for v in sorted({v for v, ok in zip(values, usable, strict=True) if v is not None and ok}):
            labels[f"{key}:{v}"] = usable & np.array([x == v for x in values])
    return labels


def _fill_samples(bufs, mis, prods, ref, valid, partner, onehot, metrics, cfg: ScoreConfig, n_boot: int) -> None:
    """Sample metrics (:class:`~stsg_bench.validation.metrics.SampleMetric`) of every product, split and
    group from the matched pairs (group rows as :func:`_fill_groups`; stations with >= min_obs pairs;
    the station-median row is the median over stations). Triplet metrics use product ``partner`` (its
    index in ``prods``) on the samples where it is finite too; their bootstrap intervals (``n_boot``
    seeded resamples) are drawn for split ``all`` (point estimates in every split)."""
    sample = [(k, m) for k, m in enumerate(metrics) if m.kind == "samples" and not m.triplet]
    triplets = [(k, m) for k, m in enumerate(metrics) if m.kind == "samples" and m.triplet]
    if not sample and not (triplets and partner is not None):
        return
    value, lower, upper, _ = bufs
    n_st, n_coll = ref.shape[1], onehot.shape[1]
    cols = [np.arange(n_st)] + [np.nonzero(onehot[:, c])[0] for c in range(n_coll)] + [[s] for s in range(n_st)]
    rows = [0] + list(range(2, 2 + n_coll + n_st))
    split_mask = {"all": np.ones_like(valid, dtype=bool), "smap_valid": valid, "smap_gap": ~valid}
    tc_min = min((met.min_n for _, met in triplets), default=0)
    rng = np.random.default_rng(0)
    draws: dict[int, np.ndarray] = {}  # resamples shared by groups of the same size
    q_all = None if partner is None else np.asarray(prods[partner], dtype=np.float64)
    for j, mi in enumerate(mis):
        p_all = prods[j].astype(np.float64)
        base = np.isfinite(p_all) & np.isfinite(ref)
        for si, sp in enumerate(cfg.splits):
            sm = base & split_mask[sp]
            for gi, (row, c) in enumerate(zip(rows, cols, strict=True)):
                m = sm[:, c]
                n = int(m.sum())
                if n < (cfg.min_obs if gi > n_coll else 1):
                    continue
                p, r = p_all[:, c][m], ref[:, c][m]
                for k, met in sample:
                    if n >= met.min_n:
                        value[mi, 0, row, si, k], lower[mi, 0, row, si, k], upper[mi, 0, row, si, k] = met.from_samples(
                            p, r, None, cfg.alpha, None
                        )
                if q_all is None or not triplets or j == partner:  # the partner is not scored against itself
                    continue
                q = q_all[:, c][m]
                ok = np.isfinite(q)
                nt = int(ok.sum())
                if nt < tc_min:
                    continue
                counts = None
                if n_boot and sp == "all":
                    if nt not in draws:
                        if len(draws) > 8:  # bounded memory: keep the resamples of a few group sizes
                            draws.clear()
                        draws[nt] = resample_counts(rng.integers(0, nt, (n_boot, nt)), nt)
                    counts = draws[nt]
                tc = _Tcol.all_from_samples(p[ok], r[ok], q[ok], cfg.alpha, counts)
                for k, met in triplets:
                    value[mi, 0, row, si, k], lower[mi, 0, row, si, k], upper[mi, 0, row, si, k] = tc[met.name]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # no station scored: NaN
                for k, _ in sample + triplets:
                    value[mi, 0, 1, si, k] = np.nanmedian(value[mi, 0, 2 + n_coll :, si, k])


def _field_sums(
    p: np.ndarray,
    r: np.ndarray,
    base: np.ndarray,
    age: np.ndarray,
    land: np.ndarray,
    splits: tuple[str, ...],
    shift: tuple[float, float],
) -> np.ndarray:
    """Per-day sums over (y, x) of the pairs on land where ``base``, per split: (..., split, 6).
    ``age`` is the gap age (0 where SMAP is valid); sums are of values shifted by ``shift``."""
    lead = p.shape[:-2]
    p2, r2 = (np.asarray(a).reshape(lead + (-1,)) for a in (p, r))
    b2 = np.asarray(base, dtype=bool).reshape(lead + (-1,)) & np.asarray(land, dtype=bool).reshape(-1)
    a2 = np.asarray(age).reshape(lead + (-1,))
    masks = _split_masks(a2 == 0, splits, a2).values()
    out = [m.stack() for m in Moments.from_pairs_masks(p2, r2, [b2 & smask for smask in masks], shift=shift)]
    return np.stack(out, axis=-2)


def _sample_center(da: xr.DataArray, days: int = 8) -> float:
    """:func:`center` of a few evenly spaced days of ``da`` (the shift of its sums)."""
    idx = np.unique(np.linspace(0, da.sizes["time"] - 1, min(days, da.sizes["time"])).astype(int))
    return center(np.asarray(da.isel(time=idx).values))


def _age_field(case: xr.Dataset, splits: tuple[str, ...]) -> xr.DataArray:
    """The gap age of every pixel (int16, 0 where SMAP is valid); computed in memory only when a gap-age
    split asks for it, else just 0 (valid) / 1 (not), lazily for dask-backed cases."""
    valid = valid_smap(case)
    if not any(s in GAP_AGE_BINS for s in splits):
        return xr.where(valid, 0, 1).astype(np.int16)
    return xr.DataArray(gap_age(valid.values), dims=valid.dims, coords=valid.coords)


def score_fields(
    products: dict[str, xr.DataArray],
    case: xr.Dataset,
    reference: xr.DataArray,
    reference_name: str,
    mask: xr.DataArray | None = None,
    cfg: ScoreConfig | None = None,
    splits: tuple[str, ...] | None = None,
) -> xr.Dataset:
    """Score products against a gridded reference over land pixels (pooled over pixels and days).

    Sums are taken per day with ``xr.apply_ufunc(..., dask="parallelized")``, so dask-backed products
    and references are scored chunk by chunk in bounded memory (gap-age splits hold one int16 age
    field of the case in memory)."""
    cfg = cfg or ScoreConfig()
    metrics = get_metrics(cfg.metrics)
    splits = tuple(splits or cfg.splits)
    methods = list(products)
    windows = cfg.windows or [Window(ALL)]
    ds = _empty(methods, reference_name, ["pooled"], splits, metrics, [w.name for w in windows])
    land = case["land"].astype(bool)
    age_case = _age_field(case, splits)
    whole: dict[str, tuple[np.ndarray, tuple[float, float]]] = {}  # per-day sums for the paired comparison

    def inputs_of(name: str) -> tuple[pd.DatetimeIndex, list[xr.DataArray], tuple[float, float]]:
        da = _check_product(name, products[name], case)
        times = da.indexes["time"]
        base = xr.ones_like(da, dtype=bool) if mask is None else mask.sel(time=times)
        ref = reference.sel(time=times)
        inputs = [da, ref, base, age_case.sel(time=times)]
        if any(a.chunks is not None for a in inputs):  # align the chunks over time, whole days per block
            tchunks = next(a.chunks[0] for a in inputs if a.chunks is not None)
            inputs = [a.chunk({"time": tchunks, "y": -1, "x": -1}) for a in inputs]
        return times, inputs, (_sample_center(da), _sample_center(ref))

    def day_sums(inputs: list[xr.DataArray], shift: tuple[float, float]) -> np.ndarray:
        """(time, split, statistic): a window's sums are the sums over its days."""
        if all(a.chunks is None for a in inputs):  # in memory: the kernel on the arrays themselves
            p, r, base, age = (a.transpose("time", "y", "x").values for a in inputs)
            return _field_sums(p, r, base, age, land.values, splits=splits, shift=shift)
        return (
            xr.apply_ufunc(  # dask-backed: block by block, in bounded memory
                _field_sums,
                *inputs,
                land,
                kwargs={"splits": splits, "shift": shift},
                input_core_dims=[["y", "x"]] * 5,
                output_core_dims=[["split", "stat"]],
                dask="parallelized",
                output_dtypes=[np.float64],
                dask_gufunc_kwargs={"output_sizes": {"split": len(splits), "stat": len(STATISTICS)}},
            )
            .transpose("time", "split", "stat")
            .values
        )

    prepared = [inputs_of(n) for n in methods]  # xarray selections here, in one thread
    # in-memory products are summed a few at a time in threads (numpy releases the GIL; each product's
    # sums are the same bits either way); dask-backed ones one after the other, dask working inside each
    lazy = any(a.chunks is not None for _, inputs, _ in prepared for a in inputs)
    summed = threads.parallel_map(lambda p: day_sums(p[1], p[2]), prepared, 1 if lazy else None)
    for mi, (name, (times, _, shift), sums) in enumerate(zip(methods, prepared, summed, strict=True)):
        for wi, window in enumerate(windows):
            totals = sums[np.nonzero(window.mask(times))[0]].sum(axis=0)  # (split, statistic)
            for si in range(len(splits)):
                mom = Moments.from_stack(totals[si], shift=shift)
                _fill(ds, mi, 0, si, wi, score_moments(mom, metrics, cfg.alpha), mom.n)
        if cfg.paired_bootstrap:
            whole[name] = (sums, shift)
    if cfg.paired_bootstrap and len(whole) > 1 and len({w[0].shape for w in whole.values()}) == 1:
        ds = ds.assign(_paired_fields(whole, ds, splits, cfg))
    return ds


#: the paired comparison stored for gridded references (:func:`stsg_bench.validation.paired.field_paired`)
PAIRED_VARS = ("paired_delta", "paired_ci_lower", "paired_ci_upper", "paired_p", "paired_block_days")
PAIRED_SPLITS = ("all", "smap_valid", "smap_gap")


def _paired_fields(whole, ds: xr.Dataset, splits, cfg: ScoreConfig) -> dict[str, xr.DataArray]:
    """Every product against every other (``versus``) on this gridded reference, the whole period, the
    splits of :data:`PAIRED_SPLITS` and the metrics of :data:`~stsg_bench.validation.paired.PAIRED_METRICS`
    (NaN elsewhere)."""
    from .paired import PAIRED_METRICS, field_paired

    keep = [i for i, sp in enumerate(splits) if sp in PAIRED_SPLITS]
    mets = [m for m in get_metrics(cfg.metrics) if m.name in PAIRED_METRICS]
    if not keep or not mets:
        return {}
    sub = {n: (a[:, keep], shift) for n, (a, shift) in whole.items()}
    res = field_paired(sub, mets, n_boot=cfg.paired_bootstrap, alpha=cfg.alpha)
    names = list(whole)
    coords = {
        "product": names,
        "versus": ("versus", names, {"long_name": "the product compared with"}),
        "split": [splits[i] for i in keep],
        "metric": [m.name for m in mets],
    }
    how = (
        f"on the samples both products have, whole period; 95 % percentile CI and p-value from a paired "
        f"bootstrap of circular blocks of paired_block_days days ({cfg.paired_bootstrap} replicates; whole "
        "days keep the field's spatial correlation)"
    )
    out = {}
    for var, values, what in (
        ("paired_delta", res.delta, "metric of product minus metric of versus (|bias| for bias)"),
        ("paired_ci_lower", res.ci_lower, "lower bound of paired_delta's CI"),
        ("paired_ci_upper", res.ci_upper, "upper bound of paired_delta's CI"),
        ("paired_p", res.p_value, "p-value of paired_delta (no difference)"),
    ):
        da = xr.DataArray(values.astype(np.float32), dims=("product", "versus", "split", "metric"), coords=coords)
        da = da.reindex(split=ds["split"].values, metric=ds["metric"].values).expand_dims(
            reference=ds["reference"].values
        )
        out[var] = da.transpose("product", "versus", "reference", "split", "metric").assign_attrs(
            long_name=f"{what}, {how}"
        )
    out["paired_block_days"] = xr.DataArray(
        np.full(ds.sizes["reference"], res.block, dtype=np.int32),
        dims="reference",
        coords={"reference": ds["reference"].values},
        attrs={"long_name": "days per resampled block of the paired bootstrap", "units": "d"},
    )
    return out


def combine(results: list[xr.Dataset], attrs: dict | None = None) -> xr.Dataset:
    """Merge per-reference results into one Dataset (outer join over groups, splits and windows)."""
    if not results:
        raise StsgError("nothing was scored")
    core = [r[["value", "ci_lower", "ci_upper", "n"]] for r in results]
    out = xr.concat(core, dim="reference", join="outer", fill_value={"n": 0})
    out["n"] = out["n"].fillna(0).astype(np.int64)
    methods = list(dict.fromkeys(str(m) for r in results for m in r["product"].values))  # the products' order
    out = out.reindex(
        {
            "product": methods,
            "group": sorted(out["group"].values, key=_group_order),
            "split": [s for s in SPLITS + GAP_AGE_SPLITS if s in out["split"].values],
            "window": list(dict.fromkeys(str(w) for r in results for w in r["window"].values)),
        }
    )
    for r in results:
        extra = [v for v in r.data_vars if v not in ("value", "ci_lower", "ci_upper", "n", *PAIRED_VARS)]
        if extra:
            out = xr.merge([out, r[extra]], compat="override", join="outer")
        for k, v in r.attrs.items():
            out.attrs[k] = v
    paired = [r[list(PAIRED_VARS)] for r in results if PAIRED_VARS[0] in r]
    if paired:  # one block per reference, aligned on the cube's own labels (no re-sorting)
        labels = {"product": out["product"].values, "versus": out["product"].values}
        labels |= {"split": out["split"].values, "metric": out["metric"].values}
        joined = xr.concat([p.reindex(labels) for p in paired], dim="reference").reindex(
            reference=out["reference"].values
        )
        out = out.assign({v: joined[v] for v in PAIRED_VARS})
    out.attrs.update(
        {
            "Conventions": "CF-1.8",
            "title": "stsg-bench validation results",
            "source_software": f"stsg-bench {__version__}",
            "results_version": RESULTS_VERSION,
            "sign_convention": "bias = product - reference",
            "units": "; ".join(f"{m.name} in {m.units}" for m in METRICS.values()),
            **(attrs or {}),
        }
    )
    for dim, long_name in LABEL_LONG_NAMES.items():
        if dim in out.coords:
            out[dim].attrs = {"long_name": long_name}
    out["value"].attrs = {"long_name": "metric value"}
    out["ci_lower"].attrs = {"long_name": "lower bound of the analytic confidence interval"}
    out["ci_upper"].attrs = {"long_name": "upper bound of the analytic confidence interval"}
    out["n"].attrs = {"long_name": "matched samples (stations for group station_median)"}
    return out


#: long_name of each dimension coordinate (the labels) of a results file
LABEL_LONG_NAMES = {
    "product": "product name",
    "reference": "reference the products are scored against",
    "group": "station group (pooled, station_median, network:..., station:..., strata)",
    "split": "samples scored (all, smap_valid, smap_gap, gap-age classes)",
    "window": "scoring window (whole period, seasons, custom windows)",
    "metric": "metric name",
    "station": "ISMN station key (network/station/sensor)",
}


def _group_order(g: str) -> tuple:
    head = {"pooled": 0, "station_median": 1}.get(g)
    if head is not None:
        return (head, "")
    return (2 if g.startswith("network:") else 4 if g.startswith("station:") else 3, g)


def save_results(ds: xr.Dataset, path) -> None:
    from ..files import write_netcdf_atomic

    enc = {v: {"zlib": True, "complevel": 1} for v in ds.data_vars if ds[v].dtype.kind == "f"}
    write_netcdf_atomic(ds, path, encoding=enc)


REQUIRED_VARS = ("value", "ci_lower", "ci_upper", "n")


def open_results(path) -> xr.Dataset:
    """Load a results file, checking it is one this version understands."""
    from ..files import open_netcdf

    ds = open_netcdf(path, "results file").load()
    version = ds.attrs.get("results_version")
    try:
        number = int(str(version)) if version is not None else None
    except ValueError:
        number = None
    if number not in READS_RESULTS:
        raise InputError(
            path,
            f"results_version {version!r}: written by another stsg-bench version (this one reads "
            f"{', '.join(map(str, READS_RESULTS))})",
            "results_version",
        )
    if number == 2 and "method" in ds.dims:  # version 2 named the products' dimension 'method'
        ds = ds.rename({"method": "product"}).assign_attrs(results_version=RESULTS_VERSION)
    missing = [v for v in REQUIRED_VARS if v not in ds]
    if missing:
        raise InputError(path, f"missing results variable(s) {', '.join(missing)}", missing[0])
    for dim in DIMS:
        if dim == "window" and dim not in ds["value"].dims:
            continue  # results without seasonal windows: the whole period only
        if dim not in ds["value"].dims or ds.sizes[dim] == 0:
            raise InputError(path, f"results have no {dim!r} axis (or it is empty)", dim)
    if "window" in ds.dims and "all" not in ds["window"].values:
        raise InputError(path, "results have no whole-period window 'all'", "window")
    if "pooled" not in ds["group"].values:
        raise InputError(path, "results have no 'pooled' group (the all-samples scores)", "group")
    if set(ds["n"].dims) != set(ds["value"].dims) - {"metric"}:
        raise InputError(path, f"dimensions {ds['n'].dims} do not match value's {ds['value'].dims}", "n")
    return ds
