"""CF-1.8 on every file this package writes, and its inverse on reading.

:func:`to_cf` is applied by :func:`stsg_bench.files.write_netcdf_atomic` to every output (cases, products,
results, archive chunks), so the rules live in one place instead of in each writer:

* times are int32 ``days since 1970-01-01`` (hours when not at midnight); the daily ``time`` axis of a
  gridded file gets ``time_bnds`` (each value stands for its day);
* coordinate variables carry no ``_FillValue``; ``valid_min`` / ``valid_max`` / ``flag_values`` have the
  variable's own type; booleans become ``byte`` flag variables; 64-bit and unsigned integers become the
  CF-1.8 types (``int``, ``byte``) when their values fit;
* strings, the labels of a dimension (``product``, ``station``, ...) included, are UTF-8 character arrays:
  netCDF-4 variable-length strings crash CF checkers, and character arrays read back as xarray string
  coordinates, so ``xr.open_dataset(results).sel(product="drcgan")`` works on the file as it is;
* the grid-mapping variable is a coordinate, so ``xr.open_dataset(f)["sm"].rio.reproject(...)`` works;
* a ``history`` line is appended (no clock time unless ``SOURCE_DATE_EPOCH`` is set: same inputs, same
  bytes).

:func:`from_cf` (applied by :func:`stsg_bench.files.open_netcdf`) drops the time bounds again, so the rest
of the package sees the dataset it wrote.
"""

from __future__ import annotations

import datetime as _dt
import os

import numpy as np
import pandas as pd
import xarray as xr

BOUNDS_DIM = "nv"
_RANGE_ATTRS = ("valid_min", "valid_max", "valid_range", "flag_values", "actual_range")


def _history_line(title: str) -> str:
    """What wrote the file. No clock time by default, so the same inputs give byte-identical files (the
    tests compare twins byte by byte); ``SOURCE_DATE_EPOCH`` (the reproducible-builds convention) adds
    that time as CF's recommended leading timestamp."""
    from . import __version__

    line = f"stsg-bench {__version__}: wrote {title}".rstrip()
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isdigit():
        stamp = _dt.datetime.fromtimestamp(int(epoch), _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        line = f"{stamp} {line}"
    return line


def _daily_bounds(ds: xr.Dataset) -> xr.Dataset:
    """``time_bnds`` for the daily time axis of a gridded file ([day, next day))."""
    if "time" not in ds.dims or "time" not in ds.coords or ds["time"].dtype.kind != "M":
        return ds
    if not any({"time", "y", "x"} <= set(v.dims) for v in ds.data_vars.values()):
        return ds
    start = ds["time"].values
    bounds = np.stack([start, start + np.timedelta64(1, "D")], axis=1)
    ds = ds.assign_coords(time_bnds=(("time", BOUNDS_DIM), bounds))
    ds["time"].attrs = {**ds["time"].attrs, "bounds": "time_bnds"}
    return ds


def _time_encoding(values: np.ndarray) -> dict:
    t = pd.DatetimeIndex(np.asarray(values).ravel())
    whole_days = bool((t[~t.isna()] == t[~t.isna()].normalize()).all())
    units = "days since 1970-01-01" if whole_days else "hours since 1970-01-01 00:00:00"
    return {"units": units, "calendar": "proleptic_gregorian", "dtype": "int32"}


def _fits(values: np.ndarray, dtype: type[np.integer]) -> bool:
    info = np.iinfo(dtype)
    return values.size == 0 or (values.min() >= info.min and values.max() <= info.max)


def _cf_integers(ds: xr.Dataset) -> xr.Dataset:
    """Booleans -> byte flags; uint8 -> byte; int64 / other unsigned -> int (when the values fit)."""
    for name in list(ds.variables):
        var = ds[name]
        if var.dtype == bool:
            attrs = {"flag_values": np.array([0, 1], np.int8), "flag_meanings": "false true", **var.attrs}
            ds[name] = var.astype(np.int8).assign_attrs(attrs)
        elif var.dtype.kind in "iu" and (var.dtype.kind == "u" or var.dtype.itemsize > 4):
            values = np.asarray(var.values)
            for target in (np.int8, np.int32) if var.dtype.itemsize == 1 else (np.int32,):
                if _fits(values, target):
                    ds[name] = var.astype(target)
                    break
    return ds


def _typed_attrs(ds: xr.Dataset, encoding: dict) -> None:
    for name, var in ds.variables.items():
        dtype = np.dtype(encoding.get(str(name), {}).get("dtype", var.dtype))
        if dtype.kind not in "iuf":
            continue
        for key in _RANGE_ATTRS:
            if key in var.attrs:
                var.attrs[key] = np.asarray(var.attrs[key]).astype(dtype)


def to_cf(ds: xr.Dataset, encoding: dict | None = None) -> tuple[xr.Dataset, dict]:
    """``ds`` and its netCDF ``encoding`` made CF-1.8 clean (see the module docstring); ``ds`` is not changed."""
    ds = ds.copy()
    for var in ds.variables.values():
        var.attrs = dict(var.attrs)
    enc: dict[str, dict] = {k: dict(v) for k, v in (encoding or {}).items()}
    if "time" in ds.coords and ds["time"].dtype.kind == "M":
        ds["time"].attrs = {"standard_name": "time", "long_name": "time", "axis": "T", **ds["time"].attrs}
    mappings = {str(v.attrs["grid_mapping"]) for v in ds.data_vars.values() if "grid_mapping" in v.attrs}
    ds = ds.set_coords([m for m in mappings if m in ds.data_vars])
    ds = _daily_bounds(ds)
    ds = _cf_integers(ds)
    for name, var in ds.variables.items():
        e = enc.setdefault(str(name), {})
        if var.dtype.kind == "M":
            e.update(_time_encoding(var.values))
            e["_FillValue"] = None
        elif var.dtype.kind in "UO" and var.size and isinstance(np.asarray(var.values).flat[0], str):
            e["dtype"] = "S1"  # character arrays: netCDF-4 vlen strings are beyond CF checkers
        elif name in ds.coords and var.dtype.kind in "iuf":
            if name in ds.dims or not (var.dtype.kind == "f" and bool(np.isnan(var.values).any())):
                e["_FillValue"] = None
    _typed_attrs(ds, enc)
    history = str(ds.attrs.get("history", "")).strip()
    line = _history_line(str(ds.attrs.get("title", "")))
    ds.attrs["history"] = f"{history}\n{line}" if history else line
    return ds, {k: v for k, v in enc.items() if v}


def from_cf(ds: xr.Dataset) -> xr.Dataset:
    """Drop the time bounds :func:`to_cf` added (files of earlier versions and other files pass unchanged)."""
    if "time" in ds.variables:
        bounds = ds["time"].attrs.get("bounds") or ds["time"].encoding.get("bounds")
        if bounds and bounds in ds.variables:
            ds = ds.drop_vars(bounds)
            ds["time"].attrs.pop("bounds", None)
    return ds
