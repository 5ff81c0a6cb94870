"""The *fusion case*: the one xarray convention every stage reads and writes.

A case is an ``xarray.Dataset`` on an EASE-Grid 2.0 M36 window with

========================  ===============  ===========================================================
variable                  dims             meaning
========================  ===============  ===========================================================
``smap``                  (time, y, x)     SMAP L3 soil moisture, m3 m-3, NaN where no retrieval
``smap_quality``          (time, y, x)     bool, True where the retrieval meets the case's quality rule
``noah``                  (time, y, x)     GLDAS Noah 0-10 cm soil moisture, m3 m-3, complete on land
``land``                  (y, x)           bool land mask (SMAP land grid)
``truth`` (optional)      (time, y, x)     the known truth (synthetic twin only), m3 m-3
========================  ===============  ===========================================================

coordinates ``time`` (daily, strictly increasing), ``y``/``x`` (EPSG:6933 metres), ``row``/``col``
(global grid indices on ``y``/``x``) and 2-D ``lat``/``lon``. Boolean variables are stored in netCDF as
``uint8`` flags and turned back into ``bool`` by :func:`open_case`.

A SMAP value is *usable* (:func:`valid_smap`) where it is finite, flagged good and on land; every filled
product passes usable SMAP through unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable
from os import PathLike
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .errors import CaseError
from .files import open_netcdf, write_netcdf_atomic
from .grid import Window, grid_mapping_attrs

SM_UNITS = "m3 m-3"
#: the largest volumetric soil moisture any product may hold (the CF valid_max of every sm variable)
SM_MAX = 1.0
#: spellings of volumetric soil-moisture units accepted on input (SPL3SMP writes cm**3/cm**3)
SM_UNIT_ALIASES = (SM_UNITS, "m3/m3", "m^3 m^-3", "m^3/m^3", "m**3 m**-3", "m**3/m**3", "cm3/cm3", "cm**3/cm**3", "1")
SM_STANDARD_NAME = "volume_fraction_of_condensed_water_in_soil"
FIELDS = ("smap", "smap_quality", "noah", "truth")
SM_FIELDS = ("smap", "noah", "truth")
REQUIRED = ("smap", "smap_quality", "noah", "land")
BOOL_VARS = ("smap_quality", "land")


def sm_attrs(long_name: str, **extra) -> dict:
    """CF-1.8 attributes of a volumetric soil-moisture variable."""
    return {
        "units": SM_UNITS,
        "standard_name": SM_STANDARD_NAME,
        "long_name": long_name,
        "valid_min": 0.0,
        "valid_max": SM_MAX,
        "grid_mapping": "crs",
        **extra,
    }


def global_attrs(title: str, **extra) -> dict:
    from . import __version__

    return {
        "Conventions": "CF-1.8",
        "title": title,
        "source_software": f"stsg-bench {__version__}",
        **extra,
    }


def make_case(
    window: Window,
    times: Iterable,
    smap: np.ndarray,
    smap_quality: np.ndarray,
    noah: np.ndarray,
    land: np.ndarray,
    truth: np.ndarray | None = None,
    attrs: dict | None = None,
) -> xr.Dataset:
    """Assemble a case dataset from numpy arrays shaped ``(time, rows, cols)`` / ``(rows, cols)``."""
    coords = window.coords()
    coords["time"] = ("time", pd.DatetimeIndex(times), {"standard_name": "time", "long_name": "time", "axis": "T"})
    data = {
        "smap": (("time", "y", "x"), smap, sm_attrs("SMAP L3 radiometer soil moisture")),
        "smap_quality": (
            ("time", "y", "x"),
            np.asarray(smap_quality, dtype=bool),
            {"long_name": "SMAP retrieval meets the case's quality rule"},
        ),
        "noah": (("time", "y", "x"), noah, sm_attrs("GLDAS Noah 0-10 cm soil moisture (daily, on EASE2 M36)")),
        "land": (("y", "x"), np.asarray(land, dtype=bool), {"long_name": "land mask"}),
        "crs": ((), np.int32(0), grid_mapping_attrs()),
    }
    if truth is not None:
        data["truth"] = (("time", "y", "x"), truth, sm_attrs("true soil moisture (synthetic twin)"))
    ds = xr.Dataset(data, coords=coords, attrs=global_attrs("stsg-bench fusion case", **(attrs or {})))
    return ds


def valid_smap(ds: xr.Dataset) -> xr.DataArray:
    """Boolean (time, y, x): SMAP is finite, flagged usable and on land."""
    return ds["smap"].notnull() & ds["smap_quality"].astype(bool) & ds["land"].astype(bool)


#: the values of a product's ``sm_flag`` variable (a CF flag variable named in ``sm:ancillary_variables``)
SOURCE_FLAGS = {"smap_observed": 0, "gap_filled": 1, "no_value": 2, "not_land": 3}


def source_flag(sm: xr.DataArray, case: xr.Dataset) -> xr.DataArray | None:
    """Per pixel and day, where a product's value comes from (:data:`SOURCE_FLAGS`): a usable SMAP
    retrieval exists (``smap_observed``; the value is that retrieval when the product passes SMAP through),
    none exists and the value was filled (``gap_filled``), a land pixel without a value (``no_value``),
    not land (``not_land``). None when the product has days the case does not (nothing to say there).
    Lazy (dask) inputs give a lazy flag."""
    if not set(np.asarray(sm["time"].values)) <= set(np.asarray(case["time"].values)):
        return None
    c = case.sel(time=sm["time"])
    land = c["land"].astype(bool)
    flag = xr.where(
        ~land,
        SOURCE_FLAGS["not_land"],
        xr.where(
            sm.isnull(),
            SOURCE_FLAGS["no_value"],
            xr.where(valid_smap(c), SOURCE_FLAGS["smap_observed"], SOURCE_FLAGS["gap_filled"]),
        ),
    )
    flag = flag.astype(np.int8).transpose(*sm.dims).reset_coords(drop=True)
    return flag.assign_attrs(
        long_name="source of each soil-moisture value",
        standard_name="status_flag",
        flag_values=np.array(list(SOURCE_FLAGS.values()), dtype=np.int8),
        flag_meanings=" ".join(SOURCE_FLAGS),
        comment="smap_observed: a usable SMAP retrieval exists that day (the value is that retrieval when "
        "the product's smap_passthrough is 1); gap_filled: no usable retrieval, the value was estimated",
        grid_mapping="crs",
    )


#: gap age given to pixels with no usable observation in the whole period
NO_OBSERVATION_AGE = np.iinfo(np.int16).max


def gap_age(valid: np.ndarray) -> np.ndarray:
    """Days from each (time, ...) pixel to the nearest ``valid`` day of the same pixel, before or after
    (0 on valid days; :data:`NO_OBSERVATION_AGE` where the pixel is never valid); int16."""
    valid = np.asarray(valid, dtype=bool)
    t = np.arange(valid.shape[0], dtype=np.int64).reshape((-1,) + (1,) * (valid.ndim - 1))
    big = np.int64(1) << 40
    last = np.maximum.accumulate(np.where(valid, t, -big), axis=0)  # index of the latest valid day so far
    nxt = np.flip(np.minimum.accumulate(np.flip(np.where(valid, t, big), axis=0), axis=0), axis=0)
    age = np.minimum(t - last, nxt - t)
    return np.minimum(age, NO_OBSERVATION_AGE).astype(np.int16)


def _fail(source: str | None, var: str, problem: str) -> None:
    where = f"{source}: " if source else ""
    raise CaseError(f"{where}variable '{var}': {problem}")


def _block_stats(ds: xr.Dataset) -> dict:
    items: dict[str, Any] = {
        var: (ds[var].min(skipna=True), ds[var].max(skipna=True)) for var in SM_FIELDS if var in ds and ds[var].size
    }
    items["noah_gaps"] = (ds["noah"].isnull() & ds["land"].astype(bool)).sum()
    if ds["noah"].chunks is not None:
        import dask

        (items,) = dask.compute(items)
    out: dict[str, Any] = {k: tuple(float(x) for x in v) for k, v in items.items() if k != "noah_gaps"}
    out["noah_gaps"] = int(items["noah_gaps"])
    return out


def _value_stats(ds: xr.Dataset) -> dict:
    """Min/max of the soil-moisture fields and Noah's gaps over land; a dask-backed case is read once,
    one time block after another (memory bounded by the block)."""
    if ds["noah"].chunks is None:
        return _block_stats(ds)
    out: dict = {}
    start = 0
    for step in ds["noah"].chunks[0]:
        part = _block_stats(ds.isel(time=slice(start, start + step)))
        start += step
        for k, v in part.items():
            if k == "noah_gaps":
                out[k] = out.get(k, 0) + v
            else:
                lo, hi = out.get(k, (np.nan, np.nan))
                out[k] = (np.fmin(lo, v[0]), np.fmax(hi, v[1]))
    return out


def validate_case(ds: xr.Dataset, source: str | None = None) -> xr.Dataset:
    """Check ``ds`` against the convention; raise :class:`CaseError` naming the variable and problem."""
    for var in REQUIRED:
        if var not in ds:
            _fail(source, var, f"missing (a case needs {', '.join(REQUIRED)})")
    for var in FIELDS:
        if var in ds and ds[var].dims != ("time", "y", "x"):
            _fail(source, var, f"dims are {ds[var].dims}, expected ('time', 'y', 'x')")
    if ds["land"].dims != ("y", "x"):
        _fail(source, "land", f"dims are {ds['land'].dims}, expected ('y', 'x')")
    for coord in ("row", "col", "lat", "lon"):
        if coord not in ds.coords:
            _fail(source, coord, "coordinate missing (expected row/col on y/x and 2-D lat/lon)")
    times = pd.DatetimeIndex(ds["time"].values)
    if times.has_duplicates:
        dup = times[times.duplicated()][0]
        _fail(source, "time", f"duplicate time stamp {dup.date()}")
    if not times.is_monotonic_increasing:
        i = int(np.argmax(np.diff(times.values.astype("datetime64[ns]").astype(np.int64)) < 0))
        _fail(source, "time", f"time stamps not increasing ({times[i].date()} then {times[i + 1].date()})")
    steps = np.diff(times.values.astype("datetime64[D]").astype(np.int64))
    if len(steps) and (steps != 1).any():
        i = int(np.argmax(steps != 1))
        _fail(
            source,
            "time",
            f"not a daily axis: {times[i].date()} is followed by {times[i + 1].date()} ({steps[i]} days; "
            "composites count ages in days, so every day must be present)",
        )
    if ds["land"].dtype == bool and not bool(ds["land"].any()):
        _fail(source, "land", "no land cell in the window (GLDAS on 0..360 longitudes, or the wrong window?)")
    stats = _value_stats(ds)
    for var in SM_FIELDS:
        if var not in ds:
            continue
        units = ds[var].attrs.get("units", SM_UNITS)
        if units not in SM_UNIT_ALIASES:
            _fail(source, var, f"units '{units}', expected '{SM_UNITS}' (volumetric soil moisture)")
        vmin, vmax = stats[var] if ds[var].size else (np.nan, np.nan)
        if vmin < 0.0 or vmax > 1.0:
            _fail(
                source,
                var,
                f"values span [{vmin:.4g}, {vmax:.4g}], outside [0, 1] m3 m-3 "
                "(kg m-2 passed by mistake? divide GLDAS 0-10 cm kg m-2 by 100)",
            )
    gaps = stats["noah_gaps"]
    if gaps:
        _fail(source, "noah", f"{gaps} missing values over land (Noah must be complete on land)")
    if ds["land"].dtype != bool:
        _fail(source, "land", f"dtype {ds['land'].dtype}, expected bool")
    return ds


def encode_for_netcdf(ds: xr.Dataset) -> xr.Dataset:
    """Bool variables -> byte flag variables (netCDF has no bool)."""
    out = ds.copy()
    for var in BOOL_VARS:
        if var in out and out[var].dtype == bool:
            attrs = dict(out[var].attrs, flag_values=np.array([0, 1], dtype=np.int8), flag_meanings="false true")
            out[var] = out[var].astype(np.int8)
            out[var].attrs = attrs
    return out


def decode_from_netcdf(ds: xr.Dataset) -> xr.Dataset:
    out = ds.copy()
    for var in BOOL_VARS:
        if var in out and out[var].dtype != bool:
            attrs = {k: v for k, v in out[var].attrs.items() if k not in ("flag_values", "flag_meanings")}
            out[var] = out[var].fillna(0).astype(bool)
            out[var].attrs = attrs
    return out


def save_case(ds: xr.Dataset, path: str | PathLike) -> None:
    """Validate and write a case atomically as CF-1.8 netCDF (zlib-compressed float32)."""
    validate_case(ds)
    enc = encode_for_netcdf(ds)
    encoding: dict[str, dict[str, Any]] = {
        str(v): {"zlib": True, "complevel": 1} for v in enc.data_vars if enc[v].ndim == 3
    }
    for v in SM_FIELDS:
        if v in enc:
            encoding[v]["dtype"] = "float32"
            encoding[v]["_FillValue"] = np.float32(np.nan)
    write_netcdf_atomic(enc, path, encoding=encoding)


def open_case(path: str | PathLike, validate: bool = True) -> xr.Dataset:
    """Open a case written by :func:`save_case` (or any file following the convention), loaded into
    memory; :func:`stsg_bench.io.lazy.open_case_lazy` opens one lazily (a file or a folder of chunks)."""
    ds = open_netcdf(path, "netCDF case")
    ds = decode_from_netcdf(ds.load())
    if validate:
        validate_case(ds, source=str(path))
    return ds


def select_period(ds: xr.Dataset, period: tuple[str, str] | slice | None) -> xr.Dataset:
    """Subset ``ds`` to an inclusive (start, end) period; ``None`` keeps everything."""
    if period is None:
        return ds
    if not isinstance(period, slice):
        period = slice(*period)
    return ds.sel(time=period)
