"""SMAP L3 radiometer soil moisture (SPL3SMP, HDF5, one file per day) on EASE-Grid 2.0 M36.

All assumptions about the product layout live in :data:`LAYOUT` (groups, the ``_pm`` suffix, the fill
value, the 406x964 array shape, the quality bits). The quality rule is configurable:

* ``recommended`` (default): ``retrieval_qual_flag`` bit 0 == 0 ("recommended quality");
* ``retrieval_success``: bit 2 == 0 (the retrieval succeeded; needed on coasts/islands such as Hawai'i,
  where bit 0 is always set because of the water fraction);
* ``any``: every finite value.

Passes: ``am`` (6 a.m. descending), ``pm`` (6 p.m. ascending) or ``am_pm`` (AM where usable, else PM).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import xarray as xr
from xarray.backends import BackendArray
from xarray.core import indexing

from ..case import SM_UNIT_ALIASES, sm_attrs
from ..errors import ConfigError, InputError
from ..files import open_netcdf
from ..grid import NCOLS, NROWS, Window
from .readers import SourceData, register_reader

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Spl3smpLayout:
    groups: tuple[tuple[str, str, str], ...] = (
        ("am", "Soil_Moisture_Retrieval_Data_AM", ""),
        ("pm", "Soil_Moisture_Retrieval_Data_PM", "_pm"),
    )
    fill_value: float = -9999.0  # float32 datasets
    flag_fill: int = 65534  # uint16 flag datasets
    shape: tuple[int, int] = (NROWS, NCOLS)
    soil_moisture: str = "soil_moisture"
    quality: str = "retrieval_qual_flag"
    #: ancillary outputs: ``tb_time_utc`` is the overpass time in seconds since 2000-01-01T12:00:00 UTC,
    #: decoded from the numeric ``tb_time_seconds`` (J2000) or, when absent, parsed from the string dataset
    extra: tuple[str, ...] = ("surface_flag", "tb_time_utc", "vegetation_opacity")
    filename: re.Pattern = re.compile(r"SMAP_L3_SM_P_(\d{8})_R\d+_\d+\.h5$")


LAYOUT = Spl3smpLayout()
#: how each dataset is decoded: 'value' (float, fill -9999 -> NaN), 'flag' (uint16, fill 65534 -> NaN)
ROLES = {"soil_moisture": "value", "retrieval_qual_flag": "flag", "surface_flag": "flag", "vegetation_opacity": "value"}
#: tb_time_seconds counts SI seconds from the J2000 epoch, 2000-01-01T11:58:55.816 UTC
J2000_TO_NOON_S = (pd.Timestamp("2000-01-01T11:58:55.816") - pd.Timestamp("2000-01-01T12:00:00")).total_seconds()

QUALITY_RULES: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "recommended": lambda sm, q: (
        np.isfinite(sm) & np.isfinite(q) & ((np.nan_to_num(q, nan=1).astype(np.int64) & 1) == 0)
    ),
    "retrieval_success": lambda sm, q: (
        np.isfinite(sm) & np.isfinite(q) & ((np.nan_to_num(q, nan=4).astype(np.int64) & 4) == 0)
    ),
    "any": lambda sm, q: np.isfinite(sm),
}
PASSES = ("am", "pm", "am_pm")


def quality_mask(sm: np.ndarray, flag: np.ndarray, rule: str) -> np.ndarray:
    if rule not in QUALITY_RULES:
        raise ConfigError(f"unknown SMAP quality rule '{rule}' (valid: {', '.join(QUALITY_RULES)})")
    return QUALITY_RULES[rule](sm, flag)


def combine_passes(sm: dict[str, np.ndarray], ok: dict[str, np.ndarray], how: str) -> tuple[np.ndarray, np.ndarray]:
    """Choose/merge the AM and PM retrievals: returns (soil moisture, usable)."""
    if how not in PASSES:
        raise ConfigError(f"unknown SMAP pass '{how}' (valid: {', '.join(PASSES)})")
    if how in ("am", "pm"):
        return sm[how], ok[how]
    am, pm = sm["am"], sm["pm"]
    out = np.where(ok["am"], am, np.where(ok["pm"], pm, np.where(np.isfinite(am), am, pm)))
    usable = ok["am"] | ok["pm"]
    return out, usable


def file_date(path: Path) -> pd.Timestamp:
    m = LAYOUT.filename.search(path.name)
    if not m:
        raise InputError(path, "file name does not match SMAP_L3_SM_P_YYYYMMDD_R*_*.h5")
    return pd.Timestamp(m.group(1))


def _open_h5(path: Path) -> h5py.File:
    try:
        return h5py.File(path, "r")
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except OSError:
        raise InputError(path, "not an HDF5 file (truncated or wrong format?)") from None


def _read_block(dset, path: Path, key: str, rs: slice, cs: slice) -> np.ndarray:
    try:
        return dset[rs, cs]
    except OSError:
        raise InputError(path, "cannot read data (truncated file?)", key) from None


def _decode(dset, path: Path, key: str, role: str, rs: slice, cs: slice) -> np.ndarray:
    """A numeric dataset as float64 with its fill value (attribute, else the product's) -> NaN."""
    if dset.dtype.kind not in "iuf":
        raise InputError(path, f"{dset.dtype} dataset where a number is needed (not SPL3SMP V9?)", key)
    units = dset.attrs.get("units")
    if var_is_sm(key) and units is not None:
        u = units.decode() if isinstance(units, bytes) else str(units)
        if u not in SM_UNIT_ALIASES:
            raise InputError(path, f"units '{u}': expected volumetric soil moisture (cm**3/cm**3)", key)
    arr = _read_block(dset, path, key, rs, cs).astype(np.float64)
    default = LAYOUT.flag_fill if role == "flag" else LAYOUT.fill_value
    fill = float(np.asarray(dset.attrs.get("_FillValue", default)).ravel()[0])
    arr[(arr == fill) | (arr == default)] = np.nan
    return arr


def var_is_sm(key: str) -> bool:
    return key.rsplit("/", 1)[-1].startswith(LAYOUT.soil_moisture) and "error" not in key


def _overpass_seconds(group, suffix: str, path: Path, rs: slice, cs: slice) -> np.ndarray | None:
    """Overpass time in seconds since 2000-01-01T12:00:00 UTC: ``tb_time_seconds`` (float64, J2000),
    else the 24-character ``tb_time_utc`` strings parsed; None when the file has neither."""
    name = f"tb_time_seconds{suffix}"
    if name in group:
        arr = _decode(group[name], path, f"{group.name.strip('/')}/{name}", "value", rs, cs)
        return arr + J2000_TO_NOON_S
    name = f"tb_time_utc{suffix}"
    if name not in group:
        return None
    dset = group[name]
    key = f"{group.name.strip('/')}/{name}"
    raw = _read_block(dset, path, key, rs, cs)
    if dset.dtype.kind in "iuf":  # an older writer stored numbers here: seconds since noon, as written
        arr = raw.astype(np.float64)
        arr[arr == LAYOUT.fill_value] = np.nan
        return arr
    text = np.char.strip(np.char.decode(raw.astype("S"), "ascii", errors="replace")) if raw.dtype.kind in "SO" else raw
    flat = pd.to_datetime(
        pd.Series(np.asarray(text, dtype=str).ravel()).replace({"N/A": None, "": None}), errors="coerce", utc=True
    )
    seconds = (flat - pd.Timestamp("2000-01-01T12:00:00", tz="UTC")).dt.total_seconds().to_numpy(dtype=np.float64)
    return seconds.reshape(raw.shape)


def read_spl3smp(
    path: str | Path, window: Window | None = None, passes: Iterable[str] = ("am", "pm"), ancillary: bool = True
) -> dict[str, dict[str, np.ndarray]]:
    """Read one SPL3SMP file: ``{pass: {variable: 2-D array}}`` cut to ``window``, each dataset decoded by
    its role (float values and uint16 flags with their fills -> NaN; the overpass time from
    ``tb_time_seconds`` or the ``tb_time_utc`` strings). Only the datasets needed are read: soil moisture
    and quality, plus the ancillary ones when ``ancillary``."""
    path = Path(path)
    window = window or Window()
    rs, cs = slice(window.row0, window.row1), slice(window.col0, window.col1)
    out: dict[str, dict[str, np.ndarray]] = {}
    optional = tuple(v for v in LAYOUT.extra if v != "tb_time_utc") if ancillary else ()
    with _open_h5(path) as f:
        for name, var, key, dset in _datasets(f, path, passes, optional):
            out.setdefault(name, {})
            if dset is not None:
                out[name][var] = _decode(dset, path, key, ROLES.get(var, "value"), rs, cs)
        if ancillary:
            for name, group, suffix in LAYOUT.groups:
                if name in passes:
                    t = _overpass_seconds(f[group], suffix, path, rs, cs)
                    if t is not None:
                        out[name]["tb_time_utc"] = t
    return out


def list_daily_files(folder: Path, period: tuple[str, str] | None = None) -> list[tuple[pd.Timestamp, Path]]:
    """(date, path) of the daily files in ``folder`` within ``period``; duplicate days raise."""
    files = sorted(folder.glob("SMAP_L3_SM_P_*.h5")) if folder.is_dir() else []
    if not files:
        raise InputError(folder, "no SMAP_L3_SM_P_*.h5 files found")
    dated = sorted((file_date(p), p) for p in files)
    if period:
        lo, hi = pd.Timestamp(period[0]), pd.Timestamp(period[1])
        dated = [(d, p) for d, p in dated if lo <= d <= hi]
    dates = pd.Series([d for d, _ in dated])
    if dates.duplicated().any():
        dup = dates[dates.duplicated()].iloc[0]
        names = [p.name for d, p in dated if d == dup]
        raise InputError(folder, f"duplicate day {dup.date()}: {', '.join(names)} (keep one release)")
    return dated


def day_fields(data: dict, pass_: str, rule: str) -> tuple[np.ndarray, np.ndarray]:
    """(soil moisture, usable) of one day from :func:`read_spl3smp` output, for the chosen pass."""
    passes = ("am", "pm") if pass_ == "am_pm" else (pass_,)
    sm = {p: data[p][LAYOUT.soil_moisture] for p in passes}
    ok = {p: quality_mask(sm[p], data[p][LAYOUT.quality], rule) for p in passes}
    return combine_passes(sm, ok, pass_) if pass_ == "am_pm" else (sm[pass_], ok[pass_])


@dataclass
class SmapReadResult:
    dataset: xr.Dataset
    problems: list[str]


def read_smap_folder(
    folder: str | Path,
    window: Window | None = None,
    pass_: str = "am",
    quality_rule: str = "recommended",
    strict: bool = False,
    period: tuple[str, str] | None = None,
    ancillary: bool = True,
) -> SmapReadResult:
    """Read a folder of daily SPL3SMP files into a ``(time, y, x)`` dataset on ``window`` (with the
    ancillary datasets per pass when ``ancillary``: overpass time, surface flag, vegetation opacity).

    Bad files are skipped and listed in ``problems`` (``strict=True`` raises instead); a day with no
    retrieval at all is kept (all NaN) and reported. Duplicate days (two releases of one date) raise.
    """
    folder = Path(folder)
    window = window or Window()
    dated = list_daily_files(folder, period)
    passes = ("am", "pm") if pass_ == "am_pm" else (pass_,)
    days, sms, oks, problems = [], [], [], []
    extras: dict[str, list[np.ndarray]] = {}
    for date, path in dated:
        try:
            data = read_spl3smp(path, window, passes, ancillary)
        except InputError as err:
            if strict:
                raise
            log.warning("skipping %s", err)
            problems.append(str(err))
            continue
        value, usable = day_fields(data, pass_, quality_rule)
        if not np.isfinite(value).any():
            problems.append(f"{path}: all-fill day (no retrieval in the window)")
        days.append(date)
        sms.append(value.astype(np.float32))
        oks.append(usable)
        for p in passes:
            for var, arr in data[p].items():
                if var != LAYOUT.soil_moisture:  # overpass seconds keep float64 (float32 would lose ~30 s)
                    extras.setdefault(f"{var}_{p}", []).append(arr if var == "tb_time_utc" else arr.astype(np.float32))
    if not days:
        raise InputError(folder, "no readable SMAP file")
    coords = window.coords()
    coords["time"] = ("time", pd.DatetimeIndex(days))
    data_vars = {
        "smap": (("time", "y", "x"), np.stack(sms), sm_attrs(f"SMAP L3 soil moisture ({pass_})")),
        "smap_quality": (("time", "y", "x"), np.stack(oks), {"long_name": f"SMAP quality rule '{quality_rule}' met"}),
    }
    for k, v in extras.items():
        attrs = {"long_name": f"SPL3SMP {k}"}
        if k.startswith("tb_time_utc"):
            attrs = {
                "long_name": "overpass time (from tb_time_seconds or tb_time_utc)",
                "units": "seconds since 2000-01-01 12:00:00",
            }
        data_vars[k] = (("time", "y", "x"), np.stack(v), attrs)
    ds = xr.Dataset(data_vars, coords=coords, attrs={"smap_quality_rule": quality_rule, "smap_pass": pass_})
    return SmapReadResult(ds, problems)


class _LazySpl3smpStack(BackendArray):
    """A (time, y, x) view of a list of daily files; reading an index opens only the files it needs."""

    def __init__(self, paths: list[Path], window: Window, pass_: str, rule: str, kind: str):
        self.paths, self.window, self.pass_, self.rule, self.kind = paths, window, pass_, rule, kind
        self.shape = (len(paths),) + window.shape
        self.dtype = np.dtype(bool if kind == "quality" else np.float32)

    def __getitem__(self, key):
        return indexing.explicit_indexing_adapter(key, self.shape, indexing.IndexingSupport.BASIC, self._raw)

    def _raw(self, key: tuple):
        days = np.arange(self.shape[0])[key[0]]
        passes = ("am", "pm") if self.pass_ == "am_pm" else (self.pass_,)
        out = []
        for d in np.atleast_1d(days):
            data = read_spl3smp(self.paths[int(d)], self.window, passes, ancillary=False)
            value, usable = day_fields(data, self.pass_, self.rule)
            out.append(usable if self.kind == "quality" else value.astype(np.float32))
        arr = np.stack(out)[(slice(None),) + tuple(key[1:])]
        return arr[0] if np.ndim(days) == 0 else arr


def _datasets(f, path: Path, passes, optional=()):
    """Yield ``(pass, variable, 'group/name', dataset)`` for each requested pass: soil moisture and
    quality (required) and ``optional`` variables (dataset None when absent); groups and shapes checked."""
    for name, group, suffix in LAYOUT.groups:
        if name not in passes:
            continue
        if group not in f:
            raise InputError(path, f"HDF5 group '{group}' missing (not an SPL3SMP file?)")
        for var in (LAYOUT.soil_moisture, LAYOUT.quality, *optional):
            key = f"{group}/{var + suffix}"
            if var + suffix not in f[group]:
                if var in (LAYOUT.soil_moisture, LAYOUT.quality):
                    raise InputError(path, "variable missing", key)
                yield name, var, key, None
                continue
            dset = f[group][var + suffix]
            if dset.shape != LAYOUT.shape:
                raise InputError(path, f"array shape {dset.shape}, expected {LAYOUT.shape} (EASE2 M36)", key)
            yield name, var, key, dset


def _check_layout(path: Path, passes) -> None:
    """Open a file's metadata only (no data read): groups, variables and shapes."""
    with _open_h5(path) as f:
        for _ in _datasets(f, path, passes):
            pass


def open_smap_folder_lazy(
    folder: str | Path,
    window: Window | None = None,
    pass_: str = "am",
    quality_rule: str = "recommended",
    strict: bool = False,
    period: tuple[str, str] | None = None,
) -> SmapReadResult:
    """Like :func:`read_smap_folder` but lazily loaded: files are checked (metadata only) now and read
    when values are accessed, one file per day, so memory follows what is used, not the folder size.
    Ancillary variables and the all-fill-day report are only available from the eager reader."""
    folder = Path(folder)
    window = window or Window()
    dated = list_daily_files(folder, period)
    passes = ("am", "pm") if pass_ == "am_pm" else (pass_,)
    good, problems = [], []
    for d, p in dated:
        try:
            _check_layout(p, passes)
            good.append((d, p))
        except InputError as err:
            if strict:
                raise
            problems.append(str(err))
    if not good:
        raise InputError(folder, "no readable SMAP file")
    paths = [p for _, p in good]
    coords = window.coords()
    coords["time"] = ("time", pd.DatetimeIndex([d for d, _ in good]))
    lazy = lambda kind: xr.Variable(
        ("time", "y", "x"), indexing.LazilyIndexedArray(_LazySpl3smpStack(paths, window, pass_, quality_rule, kind))
    )  # noqa: E731
    ds = xr.Dataset(
        {"smap": lazy("sm"), "smap_quality": lazy("quality")},
        coords=coords,
        attrs={"smap_quality_rule": quality_rule, "smap_pass": pass_},
    )
    ds["smap"].attrs = sm_attrs(f"SMAP L3 soil moisture ({pass_})")
    ds["smap_quality"].attrs = {"long_name": f"SMAP quality rule '{quality_rule}' met"}
    return SmapReadResult(ds, problems)


def read_smap_window_netcdf(
    path: str | Path, pass_: str = "am", quality_rule: str = "recommended", period: tuple[str, str] | None = None
) -> xr.Dataset:
    """Read the CF netCDF 'window' form of SPL3SMP (as in ``shared/data/real/hawaii``): variables
    ``soil_moisture_am``/``_pm``, ``retrieval_qual_flag_am``/``_pm``, coords ``row``/``col``/``land``."""
    path = Path(path)
    src = open_netcdf(path)
    if "time" not in src.coords:
        raise InputError(path, "coordinate missing", "time")
    times = pd.DatetimeIndex(src["time"].values)
    if times.has_duplicates or not times.is_monotonic_increasing:
        raise InputError(path, "time stamps are duplicated or not increasing", "time")
    if period:
        src = src.sel(time=slice(*period))
    passes = ("am", "pm") if pass_ == "am_pm" else (pass_,)
    sm, ok = {}, {}
    for p in passes:
        for var in (f"soil_moisture_{p}", f"retrieval_qual_flag_{p}"):
            if var not in src:
                raise InputError(path, "variable missing", var)
        sm[p] = src[f"soil_moisture_{p}"].values.astype(np.float64)
        sm[p][sm[p] == LAYOUT.fill_value] = np.nan
        ok[p] = quality_mask(sm[p], src[f"retrieval_qual_flag_{p}"].values, quality_rule)
    value, usable = combine_passes(sm, ok, pass_) if pass_ == "am_pm" else (sm[pass_], ok[pass_])
    for var in ("row", "col"):
        if var not in src.coords:
            raise InputError(path, "coordinate missing (global EASE2 row/col indices)", var)
    window = Window.from_rowcol(src["row"].values, src["col"].values)
    coords = window.coords()
    coords["time"] = ("time", pd.DatetimeIndex(src["time"].values))
    ds = xr.Dataset(
        {
            "smap": (("time", "y", "x"), value.astype(np.float32), sm_attrs(f"SMAP L3 soil moisture ({pass_})")),
            "smap_quality": (("time", "y", "x"), usable, {"long_name": f"SMAP quality rule '{quality_rule}' met"}),
        },
        coords=coords,
        attrs={"smap_quality_rule": quality_rule, "smap_pass": pass_},
    )
    if "land" in src:
        ds["land"] = (("y", "x"), src["land"].values.astype(bool), {"long_name": "SMAP land grid"})
    return ds


def _write_value(g, name: str, data: np.ndarray, units: str | None) -> None:
    d = g.create_dataset(name, data=np.where(np.isfinite(data), data, LAYOUT.fill_value).astype(np.float32))
    d.attrs["_FillValue"] = np.float32(LAYOUT.fill_value)
    if units:
        d.attrs["units"] = units


def _write_flag(g, name: str, data: np.ndarray) -> None:
    d = g.create_dataset(name, data=np.asarray(data, dtype=np.uint16))
    d.attrs["_FillValue"] = np.uint16(LAYOUT.flag_fill)


def write_spl3smp(
    path: str | Path,
    date: str,
    am: np.ndarray,
    pm: np.ndarray | None = None,
    qual_am: np.ndarray | None = None,
    qual_pm: np.ndarray | None = None,
    overpass_time: str = "string+seconds",
) -> Path:
    """Write a file with the SPL3SMP V9 layout, dtypes, fills and attributes (for tests and examples;
    global 406x964 arrays): soil moisture and vegetation opacity float32 with fill -9999 and units
    ``cm**3/cm**3``; ``retrieval_qual_flag`` and ``surface_flag`` uint16 with fill 65534;
    ``tb_time_utc`` a 24-character UTC string dataset and ``tb_time_seconds`` float64 seconds since
    J2000 (``overpass_time``: 'string+seconds', 'string' only, or 'none'). NaN -> the fill values."""
    path = Path(path)
    noon = pd.Timestamp(date) + pd.Timedelta(hours=6)
    with h5py.File(path, "w") as f:
        for (name, group, suffix), sm, q in zip(LAYOUT.groups, (am, pm), (qual_am, qual_pm)):
            if sm is None:
                sm = np.full(LAYOUT.shape, np.nan)
            valid = np.isfinite(sm)
            g = f.create_group(group)

            _write_value(g, LAYOUT.soil_moisture + suffix, sm, "cm**3/cm**3")
            d = g[LAYOUT.soil_moisture + suffix]
            d.attrs["valid_min"], d.attrs["valid_max"] = np.float32(0.02), np.float32(0.5)
            _write_flag(g, LAYOUT.quality + suffix, np.where(valid, 0, LAYOUT.flag_fill) if q is None else q)
            _write_flag(g, "surface_flag" + suffix, np.where(valid, 0, LAYOUT.flag_fill))
            _write_value(g, "vegetation_opacity" + suffix, np.where(valid, 0.1, np.nan), None)
            t = noon + pd.Timedelta(hours=12 if name == "pm" else 0)
            if overpass_time in ("string", "string+seconds"):
                stamp = np.where(valid, t.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "N/A").astype("S24")
                g.create_dataset("tb_time_utc" + suffix, data=stamp)
            if overpass_time == "string+seconds":
                secs = (t - pd.Timestamp("2000-01-01T11:58:55.816")).total_seconds()
                d = g.create_dataset("tb_time_seconds" + suffix, data=np.where(valid, secs, LAYOUT.fill_value))
                d.attrs["_FillValue"], d.attrs["units"] = np.float64(LAYOUT.fill_value), "seconds"
    return path


@dataclass
class SmapOptions:
    """Card keys of the SMAP readers."""

    pass_: str = "am"  # card key 'pass': am | pm | am_pm
    quality_rule: str = "recommended"  # recommended | retrieval_success | any
    strict: bool = False  # folder reader: a bad file stops the run instead of being reported
    #: folder reader: also read overpass time, surface flag and vegetation opacity (no case variable uses them;
    #: off, a global day takes ~4x less memory and time)
    ancillary: bool = False


@register_reader("smap_window_netcdf", "observation", SmapOptions)
def _open_window_netcdf(path: Path, window: Window, period, opts: SmapOptions) -> SourceData:
    """SPL3SMP as a CF netCDF window (row/col coordinates), e.g. shared/data/real/hawaii"""
    return SourceData(read_smap_window_netcdf(path, opts.pass_, opts.quality_rule, period))


@register_reader("spl3smp_folder", "observation", SmapOptions)
def _open_folder(path: Path, window: Window, period, opts: SmapOptions) -> SourceData:
    """a folder of SPL3SMP HDF5 granules (SMAP_L3_SM_P_YYYYMMDD_R*.h5)"""
    r = read_smap_folder(path, window, opts.pass_, opts.quality_rule, opts.strict, period, opts.ancillary)
    return SourceData(r.dataset, r.problems)
