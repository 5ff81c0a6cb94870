"""External soil-moisture products (ESA CCI SM, ERA5-Land, ...) on a regular lat/lon grid -> a product
on a case's EASE-Grid 2.0 M36 cells, scored beside the suite's own methods.

The source is one CF netCDF (or Zarr store) with a ``(time, lat, lon)`` variable or a folder of such files
(e.g. one per day, as ESA CCI SM is distributed), or GeoTIFF / COG files, one day each (:mod:`.geotiff`);
``valid_time`` (ERA5 from the new CDS) is read as ``time``. Products on EASE-Grid 2.0 itself (EPSG:6933 by
their grid mapping, ``y``/``x`` in m; or ``row``/``col`` global M36 indices), at 36 km or finer (9 km: 4 x 4
cells per 36 km cell), are put on the case's cells by the same bucket mean with equal weights (an equal-area grid).

Each day's field is mapped onto the case's cells with the same
area-weighted bucket mean as GLDAS (:class:`~stsg_bench.io.regrid.BucketRegridder`): every source cell
whose centre falls inside a 36 km cell contributes with weight cos(lat). Gaps stay gaps (a 36 km cell is
NaN on a day when none of its source cells has a value); nothing is filled or rescaled. Several time
stamps on one UTC date (sub-daily products) are averaged into that date's mean; dates are matched by
calendar day (ESA CCI stamps 00 UTC, ERA5-Land here 06 UTC).

Checked on the way, each a one-line :class:`~stsg_bench.errors.InputError` naming the file and the
variable: the variable exists (or a single soil-moisture variable can be chosen), 1-D latitude and
longitude coordinates exist, units are volumetric or convertible (percent of volume divided by 100; kg m-2
of a layer whose depth is given divided by 1000 kg m-3 x depth; percent of saturation refused: it needs
the soil's porosity), values lie in [0, 1] after conversion, the source grid covers every land cell of the
case, and the product shares days with the case.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..case import SM_STANDARD_NAME, SM_UNIT_ALIASES, SM_UNITS, sm_attrs
from ..errors import InputError
from ..files import is_zarr, open_netcdf
from ..grid import Window, rowcol_to_xy
from ..provenance import relative_name
from .geotiff import SUFFIXES as TIFF_SUFFIXES
from .geotiff import is_geotiff, open_geotiff
from .lazy import check_sm_range
from .regrid import BucketRegridder

log = logging.getLogger(__name__)

#: the attribute value marking an imported product (``method_kind``), as methods mark theirs
EXTERNAL_KIND = "external"
LAT_NAMES = ("lat", "latitude", "nav_lat", "y_lat")
LON_NAMES = ("lon", "longitude", "nav_lon", "x_lon")
SUFFIXES = (".nc", ".nc4", ".netcdf")
DAYS_PER_BLOCK = 64  # source days read at a time (bounds memory for global daily files)


@dataclass
class ExternalProduct:
    """An imported product on the case's cells and what was noticed while importing it."""

    sm: xr.DataArray
    notes: list[str] = field(default_factory=list)


def source_files(path: str | Path) -> list[Path]:
    """One netCDF / GeoTIFF file or Zarr store, or the netCDF or GeoTIFF files of a folder (searched
    recursively) in name order."""
    path = Path(path)
    if path.is_dir() and is_zarr(path):
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in SUFFIXES + TIFF_SUFFIXES and p.is_file())
        if not files:
            raise InputError(path, f"no netCDF or GeoTIFF files ({', '.join(SUFFIXES + TIFF_SUFFIXES)}) in this folder")
        return files
    if not path.exists():
        raise InputError(path, "no such external product file or folder")
    return [path]


def _coord_name(ds: xr.Dataset, names: tuple[str, ...], standard_name: str, units: str) -> str | None:
    for name in ds.variables:
        a = ds[name].attrs
        if a.get("standard_name") == standard_name or a.get("units") == units:
            if name in ds.coords or name in ds.dims:
                return str(name)
    for name in names:
        if name in ds.variables:
            return name
    return None


def choose_variable(ds: xr.Dataset, path: Path, variable: str | None) -> str:
    """The product variable: ``variable`` when given, else the only soil-moisture variable (by CF
    standard name), else ``sm``."""
    if variable is not None:
        if variable not in ds.data_vars:
            raise InputError(path, f"variable missing (has: {', '.join(map(str, ds.data_vars))})", variable)
        return variable
    sm_vars = [str(v) for v in ds.data_vars if ds[v].attrs.get("standard_name") == SM_STANDARD_NAME]
    if len(sm_vars) == 1:
        return sm_vars[0]
    if "sm" in ds.data_vars:
        return "sm"
    if sm_vars:
        raise InputError(path, f"several soil-moisture variables ({', '.join(sm_vars)}): choose one with --variable")
    raise InputError(
        path, f"no soil-moisture variable found (has: {', '.join(map(str, ds.data_vars))}): name it with --variable"
    )


#: volumetric soil moisture in percent (of the soil volume): divided by 100
PERCENT_VOLUME = ("%", "percent", "pct", "% vol", "vol%", "vol %", "percent volume", "% (v/v)", "m3 m-3 %")
#: relative units (of saturation or field capacity): need the soil's porosity, not converted here
RELATIVE_UNITS = ("percent saturation", "% saturation", "degree of saturation", "% sat", "fraction of saturation")
#: water in a layer per area: needs the layer's depth (1 kg m-2 = 1 mm of water)
WATER_AMOUNT = ("kg m-2", "kg/m2", "kg m**-2", "kg/m^2", "kg m^-2", "mm")
WATER_DENSITY = 1000.0  # kg m-3


def volumetric_scale(path: Path, variable: str, units: str | None, layer_depth: float | None = None) -> float:
    """The factor that turns the source's values into volumetric soil moisture (m3 m-3): 1 for
    volumetric units (or none given: the values are then checked to lie in [0, 1]), 1/100 for percent of
    volume, 1 / (1000 kg m-3 x ``layer_depth`` m) for water amounts (kg m-2 or mm) in a layer of that
    depth. Relative units (percent of saturation) need the soil's porosity and are refused, as are
    water amounts without ``layer_depth`` and anything else."""
    if units is None:
        log.warning(
            "%s [%s]: no units attribute: taken as %s (values are checked to lie in [0, 1])", path, variable, SM_UNITS
        )
        return 1.0
    u = " ".join(units.strip().lower().split())
    if units.strip() in SM_UNIT_ALIASES:
        return 1.0
    if u in RELATIVE_UNITS:
        raise InputError(
            path, f"units '{units}': relative to saturation; needs the soil's porosity: convert to {SM_UNITS}", variable
        )
    if u in PERCENT_VOLUME:
        return 0.01
    if u in WATER_AMOUNT:
        if layer_depth is None:
            raise InputError(
                path, f"units '{units}': water in a layer; give its depth (layer_depth in m) to convert", variable
            )
        return 1.0 / (WATER_DENSITY * layer_depth)
    raise InputError(
        path, f"units '{units}': expected volumetric soil moisture ({SM_UNITS}), percent or kg m-2", variable
    )


@dataclass(frozen=True)
class _Grid:
    """The source grid of one file: the names of its two horizontal coordinates and their values — latitude
    and longitude in degrees (lon in [-180, 180)), or, on EASE-Grid 2.0 (``projected``), y and x in m."""

    lat_name: str
    lon_name: str
    lat: np.ndarray
    lon: np.ndarray
    lat_slice: slice = field(default_factory=lambda: slice(None))  # the part read (set once the window is known)
    lon_slice: slice = field(default_factory=lambda: slice(None))
    projected: bool = False  # EPSG:6933 y/x in metres instead of lat/lon

    def same_as(self, other: _Grid) -> bool:
        return np.array_equal(self.lat, other.lat) and np.array_equal(self.lon, other.lon)

    def describe(self) -> str:
        if self.projected:
            return (
                f"EASE-Grid 2.0 y {self.lat.min():.0f}..{self.lat.max():.0f} m, x {self.lon.min():.0f}.."
                f"{self.lon.max():.0f} m ({self.lat.size} x {self.lon.size} cells)"
            )
        return (
            f"lat {self.lat.min():.3f}..{self.lat.max():.3f}, lon {self.lon.min():.3f}..{self.lon.max():.3f} "
            f"({self.lat.size} x {self.lon.size} cells)"
        )

    def regridder(self, window: Window) -> BucketRegridder:
        lat, lon = self.lat[self.lat_slice], self.lon[self.lon_slice]
        return (
            BucketRegridder.from_xy(lat, lon, window)
            if self.projected
            else BucketRegridder.from_latlon(lat, lon, window)
        )


def _is_ease2(ds: xr.Dataset, variable: str) -> bool:
    """Whether ``variable`` lies on EASE-Grid 2.0 global (EPSG:6933): its grid mapping says so, or it has
    ``row``/``col`` dimensions of EASE2 M36 indices (as the files of this package)."""
    mapping = ds[variable].attrs.get("grid_mapping") or ds[variable].encoding.get("grid_mapping")
    if mapping and mapping in ds.variables:
        a = ds[mapping].attrs
        text = " ".join(str(a.get(k, "")) for k in ("epsg_code", "crs_wkt", "spatial_ref", "long_name"))
        if "6933" in text or "EASE-Grid 2.0" in text or "EASE2" in text:
            return True
        if (
            a.get("grid_mapping_name") == "lambert_cylindrical_equal_area"
            and float(a.get("standard_parallel", 0)) == 30.0
        ):
            return True
    return {"row", "col"} <= set(ds[variable].dims)


def _ease2_grid(ds: xr.Dataset, path: Path, variable: str) -> _Grid:
    """The EASE2 grid of ``variable``: projected y/x (m) from its y/x coordinates, or from global M36
    row/col indices."""
    dims = ds[variable].dims
    if {"row", "col"} <= set(dims) and not {"y", "x"} <= set(dims):
        y, x = (
            rowcol_to_xy(np.asarray(ds["row"].values), np.zeros(1))[1],
            rowcol_to_xy(np.zeros(1), ds["col"].values)[0],
        )
        return _Grid("row", "col", np.asarray(y), np.asarray(x), projected=True)
    ynames = [d for d in dims if ds[d].attrs.get("standard_name") == "projection_y_coordinate" or d == "y"]
    xnames = [d for d in dims if ds[d].attrs.get("standard_name") == "projection_x_coordinate" or d == "x"]
    if not ynames or not xnames:
        raise InputError(path, f"on EASE-Grid 2.0 but no y/x (m) or row/col dimensions: {dims}", variable)
    yname, xname = str(ynames[0]), str(xnames[0])
    scale = {"km": 1000.0}.get(str(ds[yname].attrs.get("units", "m")), 1.0)
    y = np.asarray(ds[yname].values, dtype=np.float64) * scale
    x = np.asarray(ds[xname].values, dtype=np.float64) * scale
    return _Grid(yname, xname, y, x, projected=True)


def _grid(ds: xr.Dataset, path: Path, variable: str) -> _Grid:
    if _is_ease2(ds, variable):
        grid = _ease2_grid(ds, path, variable)
        da = ds[variable]
        extra = [d for d in da.dims if d not in ("time", grid.lat_name, grid.lon_name) and da.sizes[d] != 1]
        if "time" not in da.dims or extra:
            raise InputError(path, f"dimensions {da.dims}: expected (time, {grid.lat_name}, {grid.lon_name})", variable)
        return grid
    lat = _coord_name(ds, LAT_NAMES, "latitude", "degrees_north")
    lon = _coord_name(ds, LON_NAMES, "longitude", "degrees_east")
    if lat is None or lon is None:
        raise InputError(path, "no latitude/longitude coordinates (a regular lat/lon grid is needed)", variable)
    if ds[lat].ndim != 1 or ds[lon].ndim != 1:
        raise InputError(path, "2-D latitude/longitude (a curvilinear grid): only regular lat/lon grids", lat)
    da = ds[variable]
    if lat not in da.dims or lon not in da.dims or "time" not in da.dims:
        raise InputError(path, f"dimensions {da.dims}: expected (time, {lat}, {lon})", variable)
    extra = [d for d in da.dims if d not in ("time", lat, lon) and da.sizes[d] != 1]
    if extra:
        raise InputError(path, f"extra dimension(s) {', '.join(map(str, extra))}: select one layer first", variable)
    lon_v = np.asarray(ds[lon].values, dtype=np.float64)
    lon_v = (lon_v + 180.0) % 360.0 - 180.0  # 0..360 grids (ERA5 native) -> -180..180
    return _Grid(lat, lon, np.asarray(ds[lat].values, dtype=np.float64), lon_v)


def _daily(ds: xr.Dataset, path: Path, variable: str, grid: _Grid) -> Iterator[tuple[pd.DatetimeIndex, np.ndarray]]:
    """(dates, (n, nlat, nlon) float64 blocks) of one file; NaN for fills (decoded by xarray)."""
    da = ds[variable]
    da = da.isel({d: 0 for d in da.dims if d not in ("time", grid.lat_name, grid.lon_name)})
    da = da.transpose("time", grid.lat_name, grid.lon_name)
    da = da.isel({grid.lat_name: grid.lat_slice, grid.lon_name: grid.lon_slice})
    try:
        times = pd.DatetimeIndex(da["time"].values)
    except (TypeError, ValueError):
        raise InputError(
            path, "time coordinate is not decodable as dates (CF units 'days since ...')", "time"
        ) from None
    for i in range(0, times.size, DAYS_PER_BLOCK):
        block = np.asarray(da.isel(time=slice(i, i + DAYS_PER_BLOCK)).values, dtype=np.float64)
        yield times[i : i + DAYS_PER_BLOCK], block


def _regridder(grid: _Grid, window: Window, land: np.ndarray, path: Path) -> tuple[BucketRegridder, _Grid]:
    """The regridder of the part of the source grid that falls in the window (a global file is read only
    there), after checking that the grid covers every land cell of the case."""
    reg = grid.regridder(window)
    uncovered = land & (reg.coverage() == 0)
    if uncovered.any():
        lon2, lat2 = window.lonlat()
        r, c = (int(v[0]) for v in np.nonzero(uncovered))
        raise InputError(
            path,
            f"the grid ({grid.describe()}) does not cover {int(uncovered.sum())} of {int(land.sum())} land cells of "
            f"the case (first at lat {lat2[r, c]:.3f}, lon {lon2[r, c]:.3f}; a window too small, or a grid coarser "
            "than 36 km?)",
            grid.lat_name,
        )
    used = np.unique(reg.weights.indices)
    ilat, ilon = np.unravel_index(used, reg.src_shape)
    sub = _Grid(
        grid.lat_name,
        grid.lon_name,
        grid.lat,
        grid.lon,
        slice(int(ilat.min()), int(ilat.max()) + 1),
        slice(int(ilon.min()), int(ilon.max()) + 1),
        grid.projected,
    )
    return sub.regridder(window), sub


def import_external(
    source: str | Path,
    case: xr.Dataset,
    name: str | None = None,
    variable: str | None = None,
    layer_depth: float | None = None,
) -> ExternalProduct:
    """Map an external product onto ``case``'s cells and days (see the module docstring); ``layer_depth``
    (m): the depth of the layer a water amount (kg m-2) is given for."""
    if layer_depth is not None and not (np.isfinite(layer_depth) and 0 < layer_depth <= 10):
        raise InputError(source, f"layer depth {layer_depth!r} m: expected 0 < depth <= 10", "layer_depth")
    files = source_files(source)
    name = name or Path(source).stem
    window = Window.from_rowcol(case["row"].values, case["col"].values)
    land = case["land"].values.astype(bool)
    days = pd.DatetimeIndex(case["time"].values).normalize()
    total = np.zeros((days.size,) + window.shape)  # sum of the values of each cell-day
    nvalid = np.zeros(total.shape, dtype=np.uint16)  # and how many time stamps gave one
    count = np.zeros(days.size, dtype=np.int64)
    owner = np.full(days.size, -1)  # the file each day came from: a day in two files is refused
    first: _Grid | None = None
    reg: BucketRegridder | None = None
    var = variable
    attrs: dict = {}
    scales: set[tuple[str, float]] = set()
    for k, path in enumerate(files):
        ds = open_geotiff(path, variable) if is_geotiff(path) else open_netcdf(path, "external product file")
        if "valid_time" in ds.dims and "time" not in ds.dims:  # ERA5 / ERA5-Land from the new CDS
            ds = ds.drop_vars([v for v in ("time",) if v in ds.variables]).rename({"valid_time": "time"})
        with ds:
            var = choose_variable(ds, path, var)
            if "time" not in ds[var].dims:
                raise InputError(path, "no time dimension (daily fields on (time, lat, lon) are needed)", var)
            units = ds[var].attrs.get("units")
            scale = volumetric_scale(path, var, units, layer_depth)
            scales.add((str(units), scale))
            grid = _grid(ds, path, var)
            if first is None:
                reg, first = _regridder(grid, window, land, path)
                attrs = {"title": str(ds.attrs.get("title", "")), "references": str(ds.attrs.get("references", ""))}
                attrs["long_name"] = str(ds[var].attrs.get("long_name", var))
            elif not grid.same_as(first):
                raise InputError(path, f"grid differs from {files[0].name} ({grid.describe()})", grid.lat_name)
            assert reg is not None
            for times, block in _daily(ds, path, var, first):
                block = block * scale if scale != 1.0 else block
                check_sm_range(path, block, var)
                idx = days.get_indexer(times.normalize())
                keep = idx >= 0
                if not keep.any():
                    continue
                clash = [i for i in idx[keep] if owner[i] not in (-1, k)]
                if clash:
                    other = files[owner[clash[0]]]
                    raise InputError(
                        path,
                        f"{len(set(clash))} day(s) (from {days[clash[0]].date()}) are also in {other.name}: two "
                        "products or versions in one folder? import them one at a time",
                        "time",
                    )
                owner[idx[keep]] = k
                fields = reg(block[keep])  # (n, ny, nx): NaN where no source value
                np.add.at(total, idx[keep], np.nan_to_num(fields, nan=0.0))
                np.add.at(nvalid, idx[keep], np.isfinite(fields))
                np.add.at(count, idx[keep], 1)
    if not count.any():
        raise InputError(source, f"shares no day with the case ({days[0].date()} .. {days[-1].date()})", var or "time")
    notes = [f"{name}: converted from '{u}' to {SM_UNITS} (x {f:g})" for u, f in sorted(scales) if f != 1.0]
    if (count > 1).any():
        notes.append(f"{name}: {int((count > 1).sum())} day(s) with several time stamps: daily mean")
    if (count == 0).any():
        notes.append(f"{name}: {int((count == 0).sum())} of {days.size} case days missing from the source: gaps")
    with np.errstate(invalid="ignore", divide="ignore"):
        total = np.where(nvalid > 0, total / nvalid, np.nan)
    values = np.where(land[None], total, np.nan).astype(np.float32)
    coords = {k: case.coords[k] for k in ("time", "y", "x", "row", "col", "lat", "lon") if k in case.coords}
    sm = xr.DataArray(
        values,
        dims=("time", "y", "x"),
        coords=coords,
        name="sm",
        attrs=sm_attrs(
            f"{attrs.get('long_name', var)} ({name}), area-weighted bucket mean on EASE-Grid 2.0 M36",
            method=name,
            method_kind=EXTERNAL_KIND,
            source_file=relative_name(source, [os.environ.get("STSG_DATA")]),
            source_variable=str(var),
            source_units=", ".join(sorted({u for u, _ in scales})),
            source_title=attrs.get("title", ""),
            source_references=attrs.get("references", ""),
            smap_passthrough=0,
        ),
    )
    land_days = int(land.sum()) * days.size
    have = int(np.isfinite(values).sum())
    notes.append(f"{name}: values on {have} of {land_days} land cell-days ({100 * have / max(land_days, 1):.1f} %)")
    return ExternalProduct(sm, notes)
