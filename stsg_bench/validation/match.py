"""Match ISMN sensors to a case: station -> the EASE2 M36 cell containing it, hourly -> daily mean of
good-flag values, aligned with the case's days. Problems become per-station status codes, never errors.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..grid import lonlat_to_rowcol_or_minus1
from ..io.ismn import (
    GOOD_FLAGS,
    IsmnCollection,
    StationSeries,
    daily_mean,
    nearest_in_time,
)
from .strata import station_strata

log = logging.getLogger(__name__)

OK = "ok"
STATUSES = {
    OK: "scored",
    "outside_grid": "station outside EASE-Grid 2.0 (|lat| > 85.04)",
    "outside_window": "station outside the case's grid window",
    "ocean_cell": "station's 36 km cell is not on the SMAP land grid",
    "no_insitu_data": "no daily in-situ value in the period after flag/hour filters",
    "too_few_obs": "fewer matched days than min_obs",
    "all_nan_product": "the product has no value at the station's cell",
    "depth_filtered": "sensor depth outside the depth filter",
    "out_of_range": "in-situ values outside [0, 1] m3 m-3 (other units?): not scored",
    "network_filtered": "its ISMN network is not among the validation settings' networks",
    "duplicate_sensor": "the same sensor (network, station, depth, sensor) appears twice: the first is kept",
}


@dataclass
class MatchConfig:
    flags: tuple[str, ...] = GOOD_FLAGS
    depth: tuple[float, float] = (0.0, 0.10)  # QA4SM default: SCAN's 0.0508 m probes are kept
    min_hours: int = 12  # hours with a good value for a daily mean
    min_obs: int = 20  # matched days per station for per-station scores
    networks: tuple[str, ...] = ()  # ISMN networks kept (empty: every network)
    #: 'daily_mean' (daily products) or 'overpass': the value nearest the local-solar-time overpass
    #: (``overpass_hour``, 6 for SMAP AM, 18 for PM) within +-``window_hours``
    temporal: str = "daily_mean"
    overpass_hour: float = 6.0
    window_hours: float = 1.0


@dataclass
class StationTable:
    """In-situ daily references on the case's days: ``ref`` (S, T), one row per sensor."""

    keys: list[str]
    network: list[str]
    station: list[str]
    lat: np.ndarray
    lon: np.ndarray
    depth_from: np.ndarray
    depth_to: np.ndarray
    iy: np.ndarray  # index into the case's y dim (-1 if none)
    ix: np.ndarray
    status: list[str]
    times: pd.DatetimeIndex
    ref: np.ndarray
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (key, status) of sensors not in table
    #: per sensor: {'land_cover' | 'climate' | 'soil': label} from the ISMN metadata (empty if none)
    strata: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.strata:
            self.strata = [{} for _ in self.keys]

    @property
    def usable(self) -> np.ndarray:
        return np.array([s == OK for s in self.status])


def match_stations(
    sensors: IsmnCollection | list[StationSeries], case: xr.Dataset, config: MatchConfig | None = None
) -> StationTable:
    cfg = config or MatchConfig()
    if isinstance(sensors, IsmnCollection):
        sensors = sensors.sensors
    times = pd.DatetimeIndex(case["time"].values)
    rows, cols = case["row"].values, case["col"].values
    land = case["land"].values.astype(bool)
    lo, hi = cfg.depth
    keep, dropped, seen = [], [], set()
    for s in sensors:  # identity and keys, never dataclass equality (it would compare the data tables)
        if cfg.networks and s.network not in cfg.networks:
            dropped.append((s.key, "network_filtered"))
        elif not (s.variable == "sm" and s.depth_from >= lo - 1e-9 and s.depth_to <= hi + 1e-9):
            dropped.append((s.key, "depth_filtered"))
        elif s.key in seen:
            dropped.append((s.key, "duplicate_sensor"))
        else:
            seen.add(s.key)
            keep.append(s)
    S, T = len(keep), len(times)
    ref = np.full((S, T), np.nan)
    status, iy, ix = [], np.full(S, -1), np.full(S, -1)
    lat = np.array([s.lat for s in keep], dtype=float)
    lon = np.array([s.lon for s in keep], dtype=float)
    grow, gcol = lonlat_to_rowcol_or_minus1(lon, lat) if S else (np.array([]), np.array([]))
    for k, s in enumerate(keep):
        if grow[k] < 0:
            status.append("outside_grid")
            continue
        yi = np.nonzero(rows == grow[k])[0]
        xi = np.nonzero(cols == gcol[k])[0]
        if not len(yi) or not len(xi):
            status.append("outside_window")
            continue
        iy[k], ix[k] = yi[0], xi[0]
        if not land[iy[k], ix[k]]:
            status.append("ocean_cell")
            continue
        ref[k] = _reference_series(s, times, cfg)
        finite = ref[k][np.isfinite(ref[k])]
        if finite.size and (finite.min() < 0.0 or finite.max() > 1.0):
            ref[k] = np.nan
            status.append("out_of_range")
            continue
        status.append(OK if finite.size else "no_insitu_data")
    for k, st in enumerate(status):
        if st != OK:
            log.info("station %s: %s", keep[k].key, STATUSES[st])
    return StationTable(
        keys=[s.key for s in keep],
        network=[s.network for s in keep],
        station=[s.station for s in keep],
        lat=lat,
        lon=lon,
        depth_from=np.array([s.depth_from for s in keep]),
        depth_to=np.array([s.depth_to for s in keep]),
        iy=iy,
        ix=ix,
        status=status,
        times=times,
        ref=ref,
        dropped=dropped,
        strata=[station_strata(getattr(s, "metadata", None) or {}) for s in keep],
    )


def _reference_series(s: StationSeries, times: pd.DatetimeIndex, cfg: MatchConfig) -> np.ndarray:
    if cfg.temporal == "daily_mean":
        return daily_mean(s, cfg.flags, cfg.min_hours).reindex(times).to_numpy()
    if cfg.temporal == "overpass":
        # local solar time = UTC + lon / 15 h, so the overpass happens at hour - lon / 15 UTC
        utc = times.normalize() + pd.to_timedelta(cfg.overpass_hour - s.lon / 15.0, unit="h")
        near = nearest_in_time(s, pd.DatetimeIndex(utc).round("min"), pd.Timedelta(hours=cfg.window_hours), cfg.flags)
        return near.to_numpy(dtype=np.float64)
    raise ValueError(f"unknown temporal matching {cfg.temporal!r} (valid: daily_mean, overpass)")


def at_station_cells(
    field: xr.DataArray | np.ndarray, table: StationTable, out: np.ndarray | None = None
) -> np.ndarray:
    """Values of a (time, y, x) field at the stations' cells, time-major (T, S), in the field's own
    dtype (or into ``out``); NaN (or False) for unmatched stations. One gather over the flattened grid."""
    data: Any = field.data if isinstance(field, xr.DataArray) else field  # numpy or dask
    ok = (table.iy >= 0) & (table.ix >= 0)
    flat = np.where(ok, table.iy * data.shape[2] + table.ix, 0)
    if hasattr(data, "dask"):  # dask-backed: gather block by block of days, keep only (T, S)
        data = data.rechunk({1: -1, 2: -1})
        gathered = data.map_blocks(
            lambda b: np.take(b.reshape(b.shape[0], -1), flat, axis=1),
            chunks=(data.chunks[0], (len(flat),)),
            drop_axis=2,
            dtype=data.dtype,
        ).compute()
        if out is None:
            out = gathered
        else:
            out[...] = gathered
    else:
        arr = np.asarray(data)
        out = np.take(arr.reshape(arr.shape[0], -1), flat, axis=1, out=out)
    if not ok.all():
        out[:, ~ok] = np.nan if out.dtype.kind == "f" else 0
    return out


def at_stations(field: xr.DataArray | np.ndarray, table: StationTable) -> np.ndarray:
    """Values of a (time, y, x) field at the stations' cells: (S, T) float64; NaN for unmatched stations."""
    out = at_station_cells(field, table).T.astype(np.float64)
    out[(table.iy < 0) | (table.ix < 0)] = np.nan
    return out
