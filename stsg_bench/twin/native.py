"""A synthetic *native* archive: SPL3SMP granules (``SMAP_L3_SM_P_YYYYMMDD_R19240_001.h5``, global 406 x 964)
and GLDAS_NOAH025_3H 2.1 granules (eight a day, global 600 x 1440, in GES DISC's ``YYYY/DDD/`` folders),
written by the package's own writers, for the archive-scale benchmarks and tests of
``stsg-bench case --chunk-days``.

The values are plausible, not a world: smooth random soil moisture (0.05-0.45 m3 m-3) with SMAP's swath
gaps and GLDAS's ocean. ``distinct`` days of each are written and the other days are hard links to them
(named for their own dates), so a year of global files costs ``distinct`` days of disk while every file is
still opened, decoded and regridded as a real one would be.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..grid import NCOLS, NROWS
from ..io.gldas import HOURS, gldas_filename, write_gldas_file
from ..io.smap import write_spl3smp


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], scale: int = 16) -> np.ndarray:
    coarse = rng.random((shape[0] // scale + 2, shape[1] // scale + 2))
    rows = np.linspace(0, coarse.shape[0] - 1.001, shape[0])
    cols = np.linspace(0, coarse.shape[1] - 1.001, shape[1])
    r0, c0 = rows.astype(int), cols.astype(int)
    fr, fc = (rows - r0)[:, None], (cols - c0)[None, :]
    f = (
        coarse[r0][:, c0] * (1 - fr) * (1 - fc)
        + coarse[r0 + 1][:, c0] * fr * (1 - fc)
        + coarse[r0][:, c0 + 1] * (1 - fr) * fc
        + coarse[r0 + 1][:, c0 + 1] * fr * fc
    )
    return 0.05 + 0.4 * f + 0.01 * rng.standard_normal(shape)


def write_native_archive(out: str | Path, start: str, days: int, distinct: int = 7, seed: int = 0) -> tuple[Path, Path]:
    """Write ``days`` days from ``start`` under ``out/smap`` and ``out/gldas``; returns the two folders."""
    rng = np.random.default_rng(seed)
    out = Path(out)
    smap_dir, gldas_dir = out / "smap", out / "gldas"
    smap_dir.mkdir(parents=True, exist_ok=True)
    gldas_dir.mkdir(parents=True, exist_ok=True)
    lat = np.arange(600) * 0.25 - 59.875
    ocean = np.sin(np.radians(lat[:, None] * 3)) * np.cos(np.radians(np.arange(1440) * 0.25 * 2)) > 0.8
    first: list[tuple[Path, list[Path]]] = []
    for k, day in enumerate(pd.date_range(start, periods=days, freq="D")):
        smap_path = smap_dir / f"SMAP_L3_SM_P_{day:%Y%m%d}_R19240_001.h5"
        sub = gldas_dir / f"{day:%Y}" / f"{day:%j}"
        sub.mkdir(parents=True, exist_ok=True)
        gldas_paths = [sub / gldas_filename(day, h) for h in HOURS]
        if k < distinct:
            am, pm = (_smooth_field(rng, (NROWS, NCOLS)) for _ in range(2))
            for f in (am, pm):
                f[rng.random(f.shape) < 0.45] = np.nan  # swath gaps and retrieval failures
            write_spl3smp(smap_path, str(day.date()), am, pm)
            base = _smooth_field(rng, (600, 1440), scale=32)
            for h, path in zip(HOURS, gldas_paths):
                field = np.where(ocean, np.nan, base + 0.002 * int(h[:2]))
                write_gldas_file(path, field, day + pd.Timedelta(hours=int(h[:2])))
            first.append((smap_path, gldas_paths))
            continue
        src_smap, src_gldas = first[k % distinct]
        os.link(src_smap, smap_path)
        for src, dst in zip(src_gldas, gldas_paths):
            os.link(src, dst)
    return smap_dir, gldas_dir
