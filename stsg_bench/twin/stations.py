"""Synthetic in-situ stations: hourly point measurements of the twin's truth.

Each station sits at a random point inside a land cell. Its hourly value is the cell truth
(interpolated between days) + a station bias + an AR(1) representativeness error (daily) + sensor noise
(sd 0.003), with the world's :class:`~stsg_bench.twin.world.StationError` (white twin: bias sd 0.02,
phi 0.9, sd 0.02; realistic twin: larger, plus a sensor gain on the cell's anomalies). About 2 % of
hours are missing, 1 % flagged dubious (``D03``, spiked) and 0.5 % out of range (``C03``). 15 % of
sensors sit at 0.20 m (outside the default 0-0.10 m depth filter), the rest at 0.05 m.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..grid import CELL, rowcol_to_xy, xy_to_lonlat
from ..io.ismn import StationSeries
from .world import STATION, TwinWorld

NETWORKS = ("TWINA", "TWINB", "TWINC")


def _pick(world: TwinWorld, rng: np.random.Generator) -> list[tuple[int, int]]:
    ly, lx = np.nonzero(world.land)
    if len(ly) == 0 or world.spec.n_stations == 0:
        return []
    pick = rng.choice(len(ly), size=min(world.spec.n_stations, len(ly)), replace=False)
    return [(int(ly[i]), int(lx[i])) for i in sorted(pick)]


def station_cells(world: TwinWorld) -> list[tuple[int, int]]:
    """The (row, col) window cells that :func:`make_stations` will put stations in."""
    return _pick(world, np.random.default_rng([world.seed, STATION]))


def make_stations(world: TwinWorld, truth: np.ndarray | Mapping[tuple[int, int], np.ndarray]) -> list[StationSeries]:
    """Stations measuring ``truth``: a (T, Y, X) array, or the daily truth series of each cell of
    :func:`station_cells` (what a day-by-day generator keeps)."""
    spec = world.spec
    rng = np.random.default_rng([world.seed, STATION])
    cells = _pick(world, rng)
    if not cells:
        return []
    hours = pd.date_range(world.dates[0], world.dates[-1] + pd.Timedelta(hours=23), freq="h")
    t_day = np.arange(len(world.dates)) + 0.5  # daily values represent the day's middle
    t_hour = (np.arange(len(hours)) + 0.5) / 24.0
    stations = []
    for k, (r, c) in enumerate(cells):
        x0, y0 = rowcol_to_xy(r + spec.window.row0, c + spec.window.col0)
        x = float(x0) + (rng.random() - 0.5) * 0.9 * CELL
        y = float(y0) + (rng.random() - 0.5) * 0.9 * CELL
        lon, lat = (float(v) for v in xy_to_lonlat(x, y))
        depth = 0.20 if rng.random() < 0.15 else 0.05
        se = world.station_error
        bias = se.bias_sd * rng.standard_normal()
        ar = np.empty(len(world.dates))
        e = 0.0
        for d in range(len(ar)):
            e = se.phi * e + np.sqrt(1 - se.phi**2) * se.sd * rng.standard_normal()
            ar[d] = e
        cell_truth = np.asarray(truth[(r, c)] if isinstance(truth, Mapping) else truth[:, r, c], dtype=np.float64)
        if se.gain_sd > 0:  # the probe sees the cell's anomalies scaled (soil, installation)
            gain = np.exp(se.gain_sd * rng.standard_normal())
            cell_truth = cell_truth.mean() + gain * (cell_truth - cell_truth.mean())
        daily = cell_truth + bias + ar
        hourly = np.interp(t_hour, t_day, daily) + 0.003 * rng.standard_normal(len(hours))
        hourly = np.clip(hourly, 0.0, 0.7)
        flag = np.full(len(hours), "G", dtype=object)
        u = rng.random(len(hours))
        dubious, out_of_range, missing = u < 0.01, (u >= 0.01) & (u < 0.015), (u >= 0.015) & (u < 0.035)
        hourly[dubious] += 0.05
        flag[dubious] = "D03"
        hourly[out_of_range] = 0.75
        flag[out_of_range] = "C03"
        keep = ~missing
        data = pd.DataFrame(
            {"sm": np.round(hourly[keep], 4), "flag": flag[keep].astype(str), "orig_flag": "M"},
            index=pd.DatetimeIndex(hours[keep], name="time"),
        )
        stations.append(
            StationSeries(
                network=NETWORKS[k % len(NETWORKS)],
                station=f"S{k:03d}",
                lat=round(lat, 5),
                lon=round(lon, 5),
                elevation=float(np.round(100 + 900 * rng.random(), 2)),
                depth_from=depth,
                depth_to=depth,
                sensor="SynthProbe",
                data=data,
            )
        )
    return stations
