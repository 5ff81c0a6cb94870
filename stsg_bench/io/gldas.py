"""GLDAS Noah 2.1 (GLDAS_NOAH025_3H, netCDF4, 0.25 deg, 600x1440, 3-hourly instantaneous).

``SoilMoi0_10cm_inst`` is the water in the 0-10 cm layer in kg m-2 (= mm); dividing by the layer depth
(100 mm) gives m3 m-3. The eight instants of a UTC day (00, 03, ..., 21) are averaged into a daily mean
(a missing 3-hourly file is reported and the rest used), then regridded to EASE2 M36 with
:class:`~stsg_bench.io.regrid.BucketRegridder` (weights built once, reused every day).
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import netCDF4
import numpy as np
import pandas as pd
import xarray as xr

from ..case import sm_attrs
from ..errors import InputError
from ..files import open_netcdf
from ..grid import Window
from ..progress import bar
from .readers import SourceData, register_reader
from .regrid import BucketRegridder

log = logging.getLogger(__name__)

SM_VAR = "SoilMoi0_10cm_inst"
LAYER_MM = {"SoilMoi0_10cm_inst": 100.0, "SoilMoi10_40cm_inst": 300.0}
FILENAME = re.compile(r"GLDAS_NOAH025_3H\.A(\d{8})\.(\d{4})\.0?21\.nc4$")
HOURS = tuple(f"{h:02d}00" for h in range(0, 24, 3))
KG_M2_UNITS = ("kg m-2", "kg/m2", "kg m**-2", "mm")
VOLUMETRIC_UNITS = ("m3 m-3", "m3/m3", "m^3 m^-3")


def to_volumetric(values: np.ndarray, units: str | None, variable: str, source: str) -> np.ndarray:
    """kg m-2 -> m3 m-3 with a plausibility check on the values (catches mislabelled inputs)."""
    finite = values[np.isfinite(values)]
    vmax = float(finite.max()) if finite.size else np.nan
    depth = LAYER_MM.get(variable, 100.0)
    if units in VOLUMETRIC_UNITS:
        if vmax > 1.0:
            raise InputError(source, f"units say m3 m-3 but values reach {vmax:.3g} (kg m-2 mislabelled?)", variable)
        return values
    if units not in (None, *KG_M2_UNITS):
        raise InputError(source, f"unexpected units '{units}' (expected kg m-2)", variable)
    if finite.size and vmax <= 1.0:
        raise InputError(
            source, f"values reach only {vmax:.3g}: already in m3 m-3? (expected kg m-2, 0-10 cm layer)", variable
        )
    return values / depth


def read_gldas_file(path: str | Path, variable: str = SM_VAR) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read one 3-hourly file: (lat, lon, field in m3 m-3 with NaN off land)."""
    path = Path(path)
    try:
        nc = netCDF4.Dataset(path)
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except OSError:
        raise InputError(path, "not a netCDF4 file (truncated or wrong format?)") from None
    with nc:
        if variable not in nc.variables:
            raise InputError(path, f"variable missing (has: {', '.join(list(nc.variables)[:8])})", variable)
        var = nc.variables[variable]
        var.set_auto_mask(True)
        try:
            data = np.ma.filled(var[...].astype(np.float64), np.nan)
        except (RuntimeError, OSError) as exc:  # HDF5 errors of a damaged file
            raise InputError(path, f"cannot read data, damaged or truncated file ({exc})", variable) from None
        data[data == -9999.0] = np.nan
        if data.ndim == 3:
            data = data[0]
        lat = np.asarray(nc.variables["lat"][:], dtype=np.float64)
        lon = np.asarray(nc.variables["lon"][:], dtype=np.float64)
        if data.shape != (lat.size, lon.size):
            raise InputError(
                path, f"array shape {data.shape} does not match lat/lon ({lat.size}, {lon.size})", variable
            )
        units = getattr(var, "units", None)
    return lat, lon, to_volumetric(data, units, variable, str(path))


@dataclass
class GldasDailyResult:
    noah: xr.DataArray
    problems: list[str] = field(default_factory=list)


def group_files_by_day(folder: str | Path) -> dict[pd.Timestamp, dict[str, Path]]:
    folder = Path(folder)
    by_day: dict[pd.Timestamp, dict[str, Path]] = defaultdict(dict)
    for p in sorted(folder.rglob("GLDAS_NOAH025_3H.A*.nc4")):
        m = FILENAME.search(p.name)
        if not m:
            continue
        day, hhmm = pd.Timestamp(m.group(1)), m.group(2)
        if hhmm in by_day[day]:
            raise InputError(p, f"duplicate time stamp {day.date()} {hhmm} (also {by_day[day][hhmm].name})")
        by_day[day][hhmm] = p
    if not by_day:
        raise InputError(folder, "no GLDAS_NOAH025_3H.A*.nc4 files found")
    return dict(sorted(by_day.items()))


def read_gldas_folder(
    folder: str | Path,
    window: Window | None = None,
    variable: str = SM_VAR,
    period: tuple[str, str] | None = None,
    strict: bool = False,
    progress: bool = False,
) -> GldasDailyResult:
    """Daily-mean GLDAS soil moisture on an EASE2 M36 window from a folder of 3-hourly files."""
    window = window or Window()
    by_day = group_files_by_day(folder)
    if period:
        lo, hi = pd.Timestamp(period[0]), pd.Timestamp(period[1])
        by_day = {d: f for d, f in by_day.items() if lo <= d <= hi}
    regridder: BucketRegridder | None = None
    days, fields, problems = [], [], []
    items = by_day.items()
    if progress:
        items = bar(items, desc="GLDAS days", unit="day")
    for day, files in items:
        missing = [h for h in HOURS if h not in files]
        if missing:
            msg = (
                f"GLDAS {day.date()}: missing {len(missing)} of 8 files ({', '.join(missing)} UTC); "
                "daily mean of the rest"
            )
            log.warning(msg)
            problems.append(msg)
        acc: np.ndarray | None = None
        n: np.ndarray | None = None
        for _hhmm, path in sorted(files.items()):
            try:
                lat, lon, f = read_gldas_file(path, variable)
            except InputError as err:
                if strict:
                    raise
                problems.append(str(err))
                continue
            if regridder is None:
                regridder = BucketRegridder.from_latlon(lat, lon, window)
            valid = np.isfinite(f)
            acc = np.where(valid, f, 0.0) if acc is None else acc + np.where(valid, f, 0.0)
            n = valid.astype(np.int16) if n is None else n + valid
        if acc is None or n is None or regridder is None:
            problems.append(f"GLDAS {day.date()}: no readable file")
            continue
        with np.errstate(invalid="ignore"):
            daily = np.where(n > 0, acc / np.maximum(n, 1), np.nan)
        days.append(day)
        fields.append(regridder(daily).astype(np.float32))
    if not days:
        raise InputError(folder, "no readable GLDAS day")
    return GldasDailyResult(_as_dataarray(window, days, np.stack(fields)), problems)


def _as_dataarray(window: Window, days, values: np.ndarray) -> xr.DataArray:
    coords = window.coords()
    coords["time"] = ("time", pd.DatetimeIndex(days))
    return xr.DataArray(
        values,
        dims=("time", "y", "x"),
        coords=coords,
        name="noah",
        attrs=sm_attrs("GLDAS Noah 2.1 0-10 cm soil moisture, daily mean, bucket-regridded to EASE2 M36"),
    )


def read_gldas_window_netcdf(
    path: str | Path, window: Window, variable: str = SM_VAR, period: tuple[str, str] | None = None
) -> GldasDailyResult:
    """The CF netCDF 'window' form (3-hourly ``(time, lat, lon)`` on the native 0.25 deg grid, kg m-2):
    same unit conversion, daily mean and bucket regridding as the native reader."""
    path = Path(path)
    src = open_netcdf(path)
    if variable not in src:
        raise InputError(path, "variable missing", variable)
    da = src[variable]
    times = pd.DatetimeIndex(src["time"].values)
    if times.has_duplicates or not times.is_monotonic_increasing:
        raise InputError(path, "time stamps out of order or duplicated", "time")
    vol = to_volumetric(da.values.astype(np.float64), da.attrs.get("units"), variable, str(path))
    day = times.floor("D")
    counts = pd.Series(1, index=day).groupby(level=0).count()
    if period:
        counts = counts[(counts.index >= pd.Timestamp(period[0])) & (counts.index <= pd.Timestamp(period[1]))]
    problems = [
        f"GLDAS {d.date()}: {c} of 8 3-hourly values; daily mean of the rest" for d, c in counts[counts < 8].items()
    ]
    days = counts.index
    regridder = BucketRegridder.from_latlon(src["lat"].values, src["lon"].values, window)
    daily = np.stack([_nanmean0(vol[day == d]) for d in days])
    return GldasDailyResult(_as_dataarray(window, days, regridder(daily).astype(np.float32)), problems)


def _nanmean0(stack: np.ndarray) -> np.ndarray:
    """Mean over axis 0 ignoring NaN; NaN where no value (without numpy's empty-slice warning)."""
    valid = np.isfinite(stack)
    n = valid.sum(axis=0)
    total = np.where(valid, stack, 0.0).sum(axis=0)
    return np.where(n > 0, total / np.maximum(n, 1), np.nan)


@dataclass
class GldasOptions:
    """Card keys of the GLDAS readers."""

    variable: str = SM_VAR
    strict: bool = False  # folder reader: a bad file stops the run instead of being reported


@register_reader("gldas_window_netcdf", "model", GldasOptions)
def _open_window_netcdf(path: Path, window: Window, period, opts: GldasOptions) -> SourceData:
    """GLDAS Noah 2.1 as a 3-hourly CF netCDF window on the native 0.25 deg grid"""
    r = read_gldas_window_netcdf(path, window, opts.variable, period)
    return SourceData(r.noah.to_dataset(name="noah"), r.problems)


@register_reader("gldas_folder", "model", GldasOptions)
def _open_folder(path: Path, window: Window, period, opts: GldasOptions) -> SourceData:
    """a folder of GLDAS_NOAH025_3H .nc4 files"""
    r = read_gldas_folder(path, window, opts.variable, period, opts.strict)
    return SourceData(r.noah.to_dataset(name="noah"), r.problems)


def gldas_filename(day: pd.Timestamp, hhmm: str) -> str:
    """GES DISC's file name of one 3-hourly GLDAS-2.1 granule."""
    return f"GLDAS_NOAH025_3H.A{day:%Y%m%d}.{hhmm}.021.nc4"


def write_gldas_file(path: str | Path, sm_m3m3: np.ndarray, time: pd.Timestamp) -> Path:
    """Write one granule in GLDAS_NOAH025_3H 2.1's layout (600 x 1440 from 59.875 S, 179.875 W;
    ``SoilMoi0_10cm_inst`` in kg m-2 with fill -9999, zlib): the synthetic archives of the benchmarks and
    tests. ``sm_m3m3``: volumetric values (NaN off land), converted to the layer's water amount."""
    path = Path(path)
    lat = np.arange(600) * 0.25 - 59.875
    lon = np.arange(1440) * 0.25 - 179.875
    with netCDF4.Dataset(path, "w", format="NETCDF4") as nc:
        nc.createDimension("time", 1)
        nc.createDimension("lat", lat.size)
        nc.createDimension("lon", lon.size)
        t = nc.createVariable("time", "f8", ("time",))
        t.units, t.calendar = "days since 2000-01-01 00:00:00", "standard"
        t[:] = (pd.Timestamp(time) - pd.Timestamp("2000-01-01")) / pd.Timedelta("1D")
        for name, values, units in (("lat", lat, "degrees_north"), ("lon", lon, "degrees_east")):
            v = nc.createVariable(name, "f4", (name,))
            v.units = units
            v[:] = values
        sm = nc.createVariable(SM_VAR, "f4", ("time", "lat", "lon"), zlib=True, complevel=1, fill_value=-9999.0)
        sm.units, sm.long_name = "kg m-2", "Soil moisture content (0-10 cm underground)"
        water = np.asarray(sm_m3m3, dtype=np.float64) * LAYER_MM[SM_VAR]
        sm[0] = np.ma.masked_invalid(water.astype(np.float32))
    return path
