"""GeoTIFF / Cloud-Optimised GeoTIFF soil-moisture files (read with rioxarray) as the ``(time, lat, lon)``
or EASE-Grid 2.0 ``(time, y, x)`` dataset :mod:`.external` imports.

A GeoTIFF holds no time axis: each file is one day, dated by the first ``YYYYMMDD`` / ``YYYY-MM-DD`` /
``YYYY_MM_DD`` in its name, else by its ``TIFFTAG_DATETIME`` tag; a multi-band file is read only when every
band's description is a date (one band per day). Nodata, scale and offset are applied (``masked``); units
come from the band's ``units`` metadata or a ``units`` tag. Grids: EPSG:4326 (regular lat/lon, the pixel
centres as coordinates) or EPSG:6933 (EASE-Grid 2.0 global, y/x in m); any other CRS is refused with a
one-line error (reprojecting would resample values: do it with GDAL first, knowingly).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import InputError
from ..grid import grid_mapping_attrs

SUFFIXES = (".tif", ".tiff")
_DATE = re.compile(r"(?<!\d)((?:19|20)\d{2})[-_]?(0[1-9]|1[0-2])[-_]?(0[1-9]|[12]\d|3[01])(?!\d)")


def is_geotiff(path: str | Path) -> bool:
    return Path(path).suffix.lower() in SUFFIXES


def _date(text: str) -> pd.Timestamp | None:
    m = _DATE.search(text)
    return pd.Timestamp(f"{m.group(1)}-{m.group(2)}-{m.group(3)}") if m else None


def _dates(da: xr.DataArray, path: Path) -> list[pd.Timestamp]:
    """One date per band: band descriptions (multi-band), else the file name, else TIFFTAG_DATETIME."""
    nband = da.sizes.get("band", 1)
    if nband > 1:
        names = list(da.attrs.get("long_name") or ())
        dates = [_date(str(n)) for n in names] if len(names) == nband else []
        if len(dates) != nband or any(d is None for d in dates):
            raise InputError(
                path, f"{nband} bands: each band's description must be its date (YYYY-MM-DD) to be read as days", "band"
            )
        return [d for d in dates if d is not None]
    day = _date(path.name)
    if day is None and da.attrs.get("TIFFTAG_DATETIME"):
        day = _date(str(da.attrs["TIFFTAG_DATETIME"]).replace(":", "-", 2))
    if day is None:
        raise InputError(path, "no date in the file name (YYYYMMDD or YYYY-MM-DD) or TIFFTAG_DATETIME tag", "time")
    return [day]


def open_geotiff(path: str | Path, variable: str | None = None) -> xr.Dataset:
    """The file as a dataset with one variable (``variable`` or ``sm``) on (time, lat, lon) or EASE2
    (time, y, x) with a CF grid mapping."""
    path = Path(path)
    try:
        import rioxarray
    except ImportError:
        raise InputError(path, "reading GeoTIFF needs rioxarray: pip install rioxarray") from None
    try:
        da = rioxarray.open_rasterio(path, masked=True)
    except Exception as exc:  # rasterio's errors for damaged / non-TIFF files
        raise InputError(path, f"not a readable GeoTIFF ({str(exc).splitlines()[0][:120]})") from None
    assert isinstance(da, xr.DataArray)
    crs = da.rio.crs
    epsg = crs.to_epsg() if crs is not None else None
    if epsg not in (4326, 6933):
        raise InputError(
            path,
            f"CRS {crs.to_string() if crs is not None else 'missing'}: only EPSG:4326 (lat/lon) or EPSG:6933 "
            "(EASE-Grid 2.0) are read; reproject with GDAL first (gdalwarp -t_srs EPSG:4326)",
            "spatial_ref",
        )
    dates = _dates(da, path)
    name = variable or "sm"
    units = da.attrs.get("units")
    values = np.asarray(da.values, dtype=np.float32).reshape(len(dates), da.sizes["y"], da.sizes["x"])
    attrs = {"long_name": str(da.attrs.get("long_name", name)) if len(dates) == 1 else name}
    if units:
        attrs["units"] = str(units)
    y, x = np.asarray(da["y"].values, np.float64), np.asarray(da["x"].values, np.float64)
    if epsg == 4326:
        coords = {
            "lat": ("lat", y, {"standard_name": "latitude", "units": "degrees_north"}),
            "lon": ("lon", x, {"standard_name": "longitude", "units": "degrees_east"}),
        }
        dims = ("time", "lat", "lon")
        data_vars: dict = {name: (dims, values, attrs)}
    else:
        coords = {
            "y": ("y", y, {"standard_name": "projection_y_coordinate", "units": "m"}),
            "x": ("x", x, {"standard_name": "projection_x_coordinate", "units": "m"}),
        }
        dims = ("time", "y", "x")
        data_vars = {
            name: (dims, values, {**attrs, "grid_mapping": "crs"}),
            "crs": ((), np.int32(0), grid_mapping_attrs()),
        }
    return xr.Dataset(data_vars, coords={"time": pd.DatetimeIndex(dates), **coords}, attrs={"source": path.name})
