"""Lazily loaded (dask-backed) cases and products, and chunked prediction with a time halo.

* :func:`open_case_lazy` opens a case stored as one file or as many consecutive time chunks
  (``case_*.nc``, as :func:`write_twin_chunked` writes the global twin) without loading anything.
* :func:`predict_lazy` turns any registered method into a dask-backed product: the output period is cut
  into blocks of ``chunk_days`` days; each block is one task that loads its days plus the method's
  ``halo_days`` on each side and calls the method's ordinary ``predict``. Per-day methods (halo 0),
  STARFM with ``max_age`` and DrcGAN (its reference horizon) stream exactly: the blocks equal the
  unchunked prediction. A method whose halo is ``None`` (DCT-PLS smooths the whole series) runs as one
  block, with a warning.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..case import decode_from_netcdf, select_period, validate_case
from ..errors import InputError, MethodError
from ..io.write import open_netcdf

log = logging.getLogger(__name__)
PRODUCT_COORDS = ("time", "y", "x", "row", "col", "lat", "lon")
HIDDEN_VARS = ("truth",)


def case_files(path: str | Path) -> list[Path]:
    """A case file, or the ``case_*.nc`` chunk files of a folder in name (= time) order."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("case_*.nc"))
        if not files:
            raise InputError(path, "no case chunk files case_*.nc in this folder")
        return files
    if not path.exists():
        raise InputError(path, "no such case file or folder")
    return [path]


def open_case_lazy(path: str | Path, chunk_days: int = 32, validate: bool = True) -> xr.Dataset:
    """Open a case (file or folder of time chunks) with dask-backed variables chunked by ``chunk_days``.

    Every file is checked on opening (one-line error naming it); ``validate`` checks the convention in
    one streaming pass over the values."""
    files = case_files(path)
    parts = [open_netcdf(f, "case chunk", chunks={}) for f in files]  # the files' own chunks; rechunked below
    for f, p in zip(files, parts):
        for var in ("smap", "noah", "land"):
            if var not in p:
                raise InputError(f, "variable missing from case chunk", var)
        if p.sizes["y"] != parts[0].sizes["y"] or p.sizes["x"] != parts[0].sizes["x"]:
            raise InputError(f, f"grid {p.sizes['y']}x{p.sizes['x']} differs from {files[0].name}", "smap")
    ds = parts[0] if len(parts) == 1 else xr.concat(parts, dim="time", data_vars="minimal", coords="minimal", compat="override", join="override")
    ds = decode_from_netcdf(ds).chunk({"time": chunk_days})
    if validate:
        validate_case(ds, source=str(path))
    return ds


def _predict_block(method, sub: xr.Dataset, period: tuple[str, str]) -> np.ndarray:
    return method.predict(sub.load(), period).values


def predict_lazy(method, case: xr.Dataset, period=None, chunk_days: int = 32) -> xr.DataArray:
    """A dask-backed product of a fitted ``method`` over ``period``, one task per ``chunk_days`` block."""
    import dask
    import dask.array as da

    if not method.fitted:
        raise MethodError(f"{method.name}: predict_lazy() called before fit()")
    out = select_period(case, period)
    days = out.indexes["time"]
    if len(days) == 0:
        raise MethodError(f"{method.name}: the period {period} selects no day of the case")
    all_days = case.indexes["time"]
    halo = method.halo_days
    if halo is None:
        log.warning("%s needs the whole case for every day: predicted as one block (memory grows with the period)", method.name)
        step = len(days)
    else:
        step = max(1, int(chunk_days))
    m = dask.delayed(method, pure=True)
    visible = case.drop_vars([v for v in HIDDEN_VARS if v in case])  # methods never see the twin's truth
    ny, nx = case.sizes["y"], case.sizes["x"]
    blocks = []
    for s in range(0, len(days), step):
        block = days[s : s + step]
        i0, i1 = all_days.get_loc(block[0]), all_days.get_loc(block[-1])
        sub = visible if halo is None else visible.isel(time=slice(max(0, i0 - halo), i1 + halo + 1))
        period_b = (str(block[0].date()), str(block[-1].date()))
        task = dask.delayed(_predict_block, pure=True)(m, sub, period_b, dask_key_name=f"predict-{method.name}-{period_b[0]}-{id(method):x}")
        blocks.append(da.from_delayed(task, shape=(len(block), ny, nx), dtype=np.float32))
    data = da.concatenate(blocks, axis=0)
    return xr.DataArray(data, dims=("time", "y", "x"), coords={k: out.coords[k] for k in PRODUCT_COORDS}, name="sm", attrs=method.product_attrs())


def open_product_lazy(paths, chunk_days: int = 32) -> xr.DataArray:
    """A product stored as one file or several time-chunk files, dask-backed, in time order."""
    files = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
    parts = []
    for f in files:
        ds = open_netcdf(f, "product", chunks={})
        if "sm" not in ds:
            raise InputError(f, "variable missing from product", "sm")
        parts.append(ds["sm"])
    out = (parts[0] if len(parts) == 1 else xr.concat(parts, dim="time", join="override")).chunk({"time": chunk_days})
    t = pd.DatetimeIndex(out["time"].values)
    if t.has_duplicates or not t.is_monotonic_increasing:
        raise InputError(files[0].parent, "product files overlap or are out of order", "time")
    return out
