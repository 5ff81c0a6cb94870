"""ERA5-Land top-layer soil moisture from the Copernicus Climate Data Store (``cdsapi``, optional extra).

One request per calendar month (the CDS queues and limits large requests): ``volumetric_soil_water_layer_1``
(0-7 cm, m3 m-3) at 00, 06, 12 and 18 UTC over the bounding box, as netCDF, written to
``OUT/era5_land/era5_land_YYYY_MM.nc`` (``product import`` averages each day's stamps and reads the new
CDS's ``valid_time``). A month already on disk is skipped; each month is retrieved into a temporary name
and renamed when whole. Credentials: ``~/.cdsapirc`` (``url`` and ``key``) or ``CDSAPI_URL``/``CDSAPI_KEY``,
as cdsapi reads them; the ERA5-Land licence must be accepted once on the CDS web site.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import StsgError
from ..files import atomic_path

log = logging.getLogger(__name__)
DATASET = "reanalysis-era5-land"
VARIABLE = "volumetric_soil_water_layer_1"
TIMES = ("00:00", "06:00", "12:00", "18:00")
FOLDER = "era5_land"


def monthly_requests(
    bbox: tuple[float, float, float, float], period: tuple[str, str], times=TIMES
) -> list[tuple[str, dict]]:
    """(relative file name, CDS request) per calendar month of ``period`` (only its days); the CDS's
    ``area`` is North, West, South, East."""
    w, s, e, n = bbox
    days = pd.date_range(*period, freq="D")
    out = []
    for (year, month), group in pd.Series(days, index=days).groupby([days.year, days.month]):
        request = {
            "variable": [VARIABLE],
            "year": f"{year:04d}",
            "month": f"{month:02d}",
            "day": [f"{d:%d}" for d in group],
            "time": list(times),
            "area": [n, w, s, e],
            "data_format": "netcdf",
            "download_format": "unarchived",
        }
        out.append((f"{FOLDER}/era5_land_{year:04d}_{month:02d}.nc", request))
    return out


def client() -> Any:
    try:
        import cdsapi
    except ImportError:
        raise StsgError("fetching ERA5-Land needs cdsapi: pip install 'stsg-bench[fetch]'") from None
    try:
        return cdsapi.Client(quiet=True, progress=False)
    except Exception as exc:  # no ~/.cdsapirc or CDSAPI_URL/CDSAPI_KEY
        raise StsgError(
            f"Copernicus CDS login: {str(exc).splitlines()[0]} (set up ~/.cdsapirc with url and key)"
        ) from None


def fetch_era5_land(
    bbox: tuple[float, float, float, float], period: tuple[str, str], root: str | Path, cds: Any = None
) -> tuple[list[str], list[str]]:
    """Retrieve the months not yet on disk; returns (retrieved, skipped) relative file names."""
    root = Path(root)
    retrieved, skipped = [], []
    requests = monthly_requests(bbox, period)
    for name, request in requests:
        dest = root / name
        if dest.is_file() and dest.stat().st_size > 0:
            skipped.append(name)
            continue
        cds = cds if cds is not None else client()
        dest.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(dest) as tmp:
            try:
                cds.retrieve(DATASET, request, os.fspath(tmp))
            except Exception as exc:  # the remote service's errors (licence, queue, quota): one line
                raise StsgError(f"{name}: the CDS request failed: {str(exc).splitlines()[0]}") from None
        retrieved.append(name)
        log.info("retrieved %s", name)
    return retrieved, skipped
