"""Whole twins: generated in memory (:func:`generate_twin`) or day by day into chunk files
(:func:`write_twin_chunked`), and written as a case file plus ISMN station files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from ..case import make_case, save_case
from ..files import atomic_directory
from ..io.ismn import StationSeries, write_header_values
from ..progress import bar
from .presets import TwinSpec, get_spec
from .realistic import RealisticWorld
from .stations import make_stations, station_cells
from .world import DayFields, TwinWorld


def make_world(spec: TwinSpec, seed: int = 0) -> TwinWorld:
    """The world of ``spec``'s error model: ``white`` (:class:`TwinWorld`) or ``realistic``
    (:class:`~stsg_bench.twin.realistic.RealisticWorld`)."""
    return RealisticWorld(spec, seed) if spec.errors == "realistic" else TwinWorld(spec, seed)


@dataclass
class Twin:
    """A generated twin: the case dataset (with ``truth``) and the in-situ stations."""

    spec: TwinSpec
    seed: int
    case: xr.Dataset
    stations: list[StationSeries]


def generate_twin(preset: str | TwinSpec = "small", seed: int = 0, progress: bool = False, **overrides) -> Twin:
    """Generate a whole twin in memory (not for the lazy ``global`` preset: use ``TwinWorld.iter_days``)."""
    spec = get_spec(preset, **overrides) if isinstance(preset, str) else preset
    world = make_world(spec, seed)
    n, (ny, nx) = spec.ndays, world.shape
    arrays = {k: np.empty((n, ny, nx), dtype=np.float32) for k in ("truth", "smap", "noah")}
    quality = np.empty((n, ny, nx), dtype=bool)
    days = world.iter_days()
    if progress:
        days = bar(days, total=n, desc=f"twin {spec.name}", unit="day")
    for i, f in enumerate(days):
        arrays["truth"][i], arrays["smap"][i], arrays["noah"][i], quality[i] = f.truth, f.smap, f.noah, f.smap_quality
    case = make_case(
        spec.window,
        world.dates,
        arrays["smap"],
        quality,
        arrays["noah"],
        world.land,
        arrays["truth"],
        _twin_attrs(spec, seed),
    )
    stations = make_stations(world, arrays["truth"])
    return Twin(spec, seed, case, stations)


def _twin_attrs(spec: TwinSpec, seed: int) -> dict:
    attrs = {
        "source": f"stsg-bench synthetic twin, preset '{spec.name}', seed {seed}",
        "twin_preset": spec.name,
        "twin_seed": int(seed),
        "twin_errors": spec.errors,
        "smap_quality_rule": "synthetic: False in the dense-vegetation region and 2% random flags",
    }
    if spec.train_end:
        attrs["train_end"] = spec.train_end
    return attrs


def write_twin_chunked(
    preset: str | TwinSpec, out: str | Path, seed: int = 0, chunk_days: int = 32, progress: bool = False, **overrides
) -> Path:
    """Generate a twin day by day into ``out/case/case_YYYYMMDD.nc`` (``chunk_days`` days per file) and
    ``out/ismn/``; memory holds one chunk, whatever the period (the ``global`` preset's way to disk).
    Open the result with :func:`stsg_bench.io.lazy.open_case_lazy`."""
    spec = get_spec(preset, **overrides) if isinstance(preset, str) else preset
    final = Path(out)
    with atomic_directory(final) as tmp:  # built beside its target, swapped in when complete
        _write_chunks(spec, tmp, seed, chunk_days, progress)
    return final


def _write_chunks(spec: TwinSpec, out: Path, seed: int, chunk_days: int, progress: bool) -> None:
    world = make_world(spec, seed)
    cells = station_cells(world)
    series = {c: np.empty(spec.ndays, dtype=np.float32) for c in cells}
    days = world.iter_days()
    if progress:
        days = bar(days, total=spec.ndays, desc=f"twin {spec.name}", unit="day")
    buf: list[DayFields] = []
    for i, f in enumerate(days):
        for c in cells:
            series[c][i] = f.truth[c]
        buf.append(f)
        if len(buf) == chunk_days or i == spec.ndays - 1:
            stack = {k: np.stack([getattr(b, k) for b in buf]) for k in ("truth", "smap", "smap_quality", "noah")}
            chunk = make_case(
                spec.window,
                [b.date for b in buf],
                stack["smap"],
                stack["smap_quality"],
                stack["noah"],
                world.land,
                stack["truth"],
                _twin_attrs(spec, seed),
            )
            save_case(chunk, out / "case" / f"case_{buf[0].date:%Y%m%d}.nc")
            buf = []
    for s in make_stations(world, series):
        write_header_values(s, out / "ismn")


def write_twin(twin: Twin, out: str | Path) -> Path:
    """Write ``out/case.nc`` and ``out/ismn/NETWORK/STATION/*.stm``; returns ``out``."""
    out = Path(out)
    with atomic_directory(out) as tmp:  # an existing folder is replaced whole: no stale station files
        for s in twin.stations:
            write_header_values(s, tmp / "ismn")
        save_case(twin.case, tmp / "case.nc")
    return out
