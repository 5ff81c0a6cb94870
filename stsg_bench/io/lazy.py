"""Lazily loaded (dask-backed) cases and products.

* :func:`open_case_lazy` opens a case stored as one file or as many consecutive time chunks
  (``case_*.nc``, as :func:`stsg_bench.twin.write_twin_chunked` writes the global twin) without loading
  anything.
* :func:`open_product_lazy` opens a product stored as one file or several time-chunk files;
  :func:`save_product` writes one (CF-1.8, atomically).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..case import (
    SM_MAX,
    SM_UNIT_ALIASES,
    SM_UNITS,
    decode_from_netcdf,
    global_attrs,
    source_flag,
    validate_case,
)
from ..errors import InputError
from ..files import open_netcdf, write_dataset_atomic
from ..grid import grid_mapping_attrs
from ..provenance import case_fingerprint, software, to_attr

log = logging.getLogger(__name__)
PRODUCT_COORDS = ("time", "y", "x", "row", "col", "lat", "lon")
#: a product's per-pixel source flag (:func:`stsg_bench.case.source_flag`)
FLAG_VAR = "sm_flag"


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
        for coord in ("row", "col"):
            if coord in p.coords and not np.array_equal(p[coord].values, parts[0][coord].values):
                raise InputError(f, f"window differs from {files[0].name} (other {coord}s)", coord)
    ds = (
        parts[0]
        if len(parts) == 1
        else xr.concat(parts, dim="time", data_vars="minimal", coords="minimal", compat="override", join="override")
    )
    ds = decode_from_netcdf(ds).chunk({"time": chunk_days})
    if validate:
        validate_case(ds, source=str(path))
    return ds


def open_product_lazy(paths, chunk_days: int = 32) -> xr.DataArray:
    """A product stored as one file or several time-chunk files, dask-backed, in time order."""
    files = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
    parts = []
    for f in files:
        ds = open_netcdf(f, "product", chunks={})
        if "sm" not in ds:
            raise InputError(f, "variable missing from product", "sm")
        parts.append(check_product_values(f, ds["sm"]))
    out = (parts[0] if len(parts) == 1 else xr.concat(parts, dim="time", join="override")).chunk({"time": chunk_days})
    t = pd.DatetimeIndex(out["time"].values)
    if t.has_duplicates or not t.is_monotonic_increasing:
        raise InputError(files[0].parent, "product files overlap or are out of order", "time")
    return out


def check_product_grid(path: str | Path, ds: xr.Dataset, case: xr.Dataset, fingerprint: str | None = None) -> None:
    """Refuse a product that is not on the case's cells or was made from another case: its ``row``/``col``
    (EASE2 numbers) and ``x``/``y`` (EPSG:6933 metres) must be the case's, in the case's order, and its
    ``case_fingerprint`` (when it has one) the case's (window, days, land mask)."""
    sm = ds["sm"]
    checked = False
    for dim, num, metres in (("y", "row", "y"), ("x", "col", "x")):
        want_n = case.sizes[dim]
        if dim not in sm.dims or sm.sizes[dim] != want_n:
            got = sm.sizes.get(dim, 0)
            raise InputError(path, f"has {got} {dim} cells, the case {want_n}: not on the case's window", "sm")
        for coord, tol in ((num, 0.0), (metres, 1.0)):
            if coord not in ds.coords or coord not in case.coords:
                continue
            got_v = np.asarray(ds[coord].values, dtype=np.float64)
            want_v = np.asarray(case[coord].values, dtype=np.float64)
            checked = True
            if np.allclose(got_v, want_v, rtol=0, atol=tol):
                continue
            if np.allclose(got_v[::-1], want_v, rtol=0, atol=tol):
                raise InputError(path, f"its {dim} axis runs the other way round from the case's (flipped)", coord)
            raise InputError(
                path,
                f"lies on {coord} {got_v[0]:g}..{got_v[-1]:g}, the case on {want_v[0]:g}..{want_v[-1]:g}: "
                "another window or grid",
                coord,
            )
    if not checked:
        raise InputError(path, "has no row/col or x/y coordinates to place it on the case's grid", "sm")
    made_from = ds.attrs.get("case_fingerprint")
    if fingerprint and made_from and made_from != fingerprint:
        raise InputError(
            path,
            f"was made from another case (case fingerprint {made_from}, this case {fingerprint}: window, days "
            "or land mask differ)",
            "case_fingerprint",
        )


def on_case_grid(prod: xr.DataArray, case: xr.Dataset) -> xr.DataArray:
    """A product that :func:`check_product_grid` accepted, with the case's own grid coordinates (its
    metres may differ from the case's by rounding, which would break exact alignment)."""
    coords = {c: case[c] for c in PRODUCT_COORDS if c != "time" and c in case.coords}
    return prod.drop_vars([c for c in coords if c in prod.coords]).assign_coords(coords)


def check_product_values(path: str | Path, sm: xr.DataArray, sample_days: int = 32) -> xr.DataArray:
    """Refuse a product in other units or out of the physical range (a product in percent, say): its
    ``units`` must be a volumetric soil-moisture unit and every value within [0, 1]. The first
    ``sample_days`` days are checked at once; the returned (dask-backed) ``sm`` checks every other block
    as it is read, so the whole product is covered without a pass of its own."""
    units = sm.attrs.get("units")
    if units is not None and units not in SM_UNIT_ALIASES:
        raise InputError(path, f"units '{units}': expected volumetric soil moisture ({SM_UNITS})", "sm")
    check_sm_range(path, np.asarray(sm.isel(time=slice(0, sample_days)).values, dtype=np.float64), "sm")
    if sm.chunks is None:
        check_sm_range(path, np.asarray(sm.values, dtype=np.float64), "sm")
        return sm
    checked = sm.data.map_blocks(_range_checked_block, path=str(path), dtype=sm.dtype)
    return sm.copy(data=checked)


def _range_checked_block(block: np.ndarray, path: str) -> np.ndarray:
    check_sm_range(path, np.asarray(block, dtype=np.float64), "sm")
    return block


def check_sm_range(path: str | Path, values: np.ndarray, variable: str) -> None:
    """Refuse soil-moisture values outside [0, SM_MAX] (beyond rounding): another unit, or percent."""
    finite = values[np.isfinite(values)]
    if finite.size and (finite.min() < -1e-6 or finite.max() > SM_MAX + 1e-6):
        raise InputError(
            path,
            f"values from {finite.min():.3g} to {finite.max():.3g} are outside [0, {SM_MAX:g}] {SM_UNITS} "
            "(a product in percent?)",
            variable,
        )


def save_product(
    prod: xr.DataArray,
    path: str | Path,
    provenance: dict,
    ancillary: dict[str, xr.DataArray] | None = None,
    case: xr.Dataset | None = None,
) -> None:
    """Write a product (``sm``, time x y x) as CF-1.8 netCDF (a Zarr store when ``path`` ends in ``.zarr``),
    atomically, with its provenance (plus the software and kernels that made it, and the fingerprint of
    ``case``, which ``score`` checks) and its
    CF ancillary variables (e.g. ``sm_spread``, and with ``case`` the per-pixel source flag ``sm_flag``:
    observed / filled / no value / not land), all named in ``sm:ancillary_variables``."""
    provenance = {**provenance, "software": to_attr(software())}
    if case is not None:
        provenance["case_fingerprint"] = case_fingerprint(case)
    ds = prod.to_dataset(name="sm")
    encoding = {"sm": {"zlib": True, "complevel": 1, "dtype": "float32"}}
    for name, var in (ancillary or {}).items():
        ds[name] = var.assign_attrs(grid_mapping="crs")
        encoding[name] = encoding["sm"]
    flag = source_flag(prod, case) if case is not None else None
    if flag is not None:
        ds[FLAG_VAR] = flag
        encoding[FLAG_VAR] = {"zlib": True, "complevel": 1}
    extra = [*(ancillary or {}), *([FLAG_VAR] if flag is not None else [])]
    if extra:
        ds["sm"].attrs["ancillary_variables"] = " ".join(extra)
    ds["sm"].attrs["cell_methods"] = "area: mean time: mean"
    if case is not None:  # computations (and merging the flag) may drop the coordinates' CF attributes
        for coord in ds.coords:
            if coord in case.coords and not ds[coord].attrs:
                ds[coord].attrs = dict(case[coord].attrs)
    ds["crs"] = xr.DataArray(np.int32(0), attrs=grid_mapping_attrs())
    ds.attrs = global_attrs(
        f"stsg-bench product: {prod.attrs.get('method', '')}", **{k: str(v) for k, v in provenance.items()}
    )
    write_dataset_atomic(ds, path, encoding=encoding)
