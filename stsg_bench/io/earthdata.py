"""NASA Earthdata: find the SMAP L3 and GLDAS Noah granules of a bounding box and period with
``earthaccess`` and say where each goes, in exactly the layout the readers read.

- ``smap``: SPL3SMP version 009 (NSIDC), ``OUT/smap/SMAP_L3_SM_P_YYYYMMDD_R*_*.h5`` (one flat folder);
- ``gldas``: GLDAS_NOAH025_3H version 2.1 (GES DISC), ``OUT/gldas/YYYY/DDD/GLDAS_NOAH025_3H.AYYYYMMDD.HHMM.021.nc4``
  (GES DISC's own year/day-of-year folders). GLDAS-2.1 has a main production stream and an Early Product
  stream (``GLDAS_NOAH025_3H_EP``, forced with different precipitation, for the most recent months);
  ``gldas_stream`` picks one and the fetch manifest records which.

Granules are kept by the date in their file name (the readers' own patterns), so the 3-hourly GLDAS
granule whose time bounds straddle midnight is not fetched for the day before. Sizes and checksums come
from each granule's UMM metadata (``DataGranule.ArchiveAndDistributionInformation``).

Login uses earthaccess's strategies: ``EARTHDATA_TOKEN`` or ``EARTHDATA_USERNAME``/``EARTHDATA_PASSWORD``
in the environment, else ``~/.netrc`` (``machine urs.earthdata.nasa.gov login USER password PASS``); the
search itself needs no login (``--dry-run``).
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..errors import ConfigError, StsgError
from .download import Remote
from .gldas import FILENAME as GLDAS_FILENAME
from .smap import LAYOUT as SMAP_LAYOUT

log = logging.getLogger(__name__)
SMAP_FILENAME: re.Pattern = SMAP_LAYOUT.filename


@dataclass(frozen=True)
class Collection:
    """One Earthdata collection and where its granules go under the fetch folder."""

    key: str
    short_name: str
    version: str
    folder: str
    filename: re.Pattern  # the reader's file-name pattern; group 1 is YYYYMMDD
    subfolder: Callable[[pd.Timestamp], str]  # below ``folder``, from the file's date

    def destination(self, name: str) -> str | None:
        """Relative destination of a granule file, or None when the name is not one of the reader's."""
        m = self.filename.search(name)
        if m is None:
            return None
        sub = self.subfolder(pd.Timestamp(m.group(1)))
        return "/".join(p for p in (self.folder, sub, name) if p)

    def day(self, name: str) -> pd.Timestamp:
        m = self.filename.search(name)
        assert m is not None
        return pd.Timestamp(m.group(1))


COLLECTIONS = {
    "smap": Collection("smap", "SPL3SMP", "009", "smap", SMAP_FILENAME, lambda day: ""),
    "gldas": Collection("gldas", "GLDAS_NOAH025_3H", "2.1", "gldas", GLDAS_FILENAME, lambda d: f"{d:%Y}/{d:%j}"),
}
GLDAS_STREAMS = {"main": "GLDAS_NOAH025_3H", "early": "GLDAS_NOAH025_3H_EP"}


def collection(key: str, gldas_stream: str = "main") -> Collection:
    if key not in COLLECTIONS:
        raise ConfigError(f"unknown product {key!r} to fetch (valid: {', '.join(COLLECTIONS)}, era5-land)")
    c = COLLECTIONS[key]
    if key == "gldas":
        if gldas_stream not in GLDAS_STREAMS:
            raise ConfigError(f"unknown GLDAS stream {gldas_stream!r} (valid: {', '.join(GLDAS_STREAMS)})")
        c = Collection(c.key, GLDAS_STREAMS[gldas_stream], c.version, c.folder, c.filename, c.subfolder)
    return c


def _earthaccess():
    try:
        import earthaccess
    except ImportError:
        raise StsgError("fetching from NASA Earthdata needs earthaccess: pip install 'stsg-bench[fetch]'") from None
    return earthaccess


def _file_info(umm: dict) -> dict[str, dict]:
    """file name -> its ArchiveAndDistributionInformation entry."""
    info = (umm.get("DataGranule") or {}).get("ArchiveAndDistributionInformation") or []
    return {str(e.get("Name")): e for e in info if e.get("Name")}


def _size_bytes(entry: dict) -> int | None:
    """The exact size, when the metadata give one (a rounded ``Size`` in MB cannot check a file: the
    checksum does then)."""
    return int(entry["SizeInBytes"]) if entry.get("SizeInBytes") is not None else None


def _approx_bytes(entry: dict) -> float | None:
    """A rounded ``Size`` with its ``SizeUnit`` in bytes (GES DISC gives sizes in MB), for listings."""
    units = {"B": 1, "KB": 2**10, "MB": 2**20, "GB": 2**30, "TB": 2**40}
    unit = str(entry.get("SizeUnit", "")).upper()
    try:
        return float(entry["Size"]) * units[unit] if "Size" in entry and unit in units else None
    except (TypeError, ValueError):
        return None


def granule_remotes(granule: Any, coll: Collection) -> list[Remote]:
    """The data files of one earthaccess ``DataGranule`` that the reader reads, as :class:`Remote`\\ s."""
    info = _file_info(granule["umm"])
    out = []
    for url in granule.data_links(access="external"):
        name = url.rsplit("/", 1)[-1]
        dest = coll.destination(name)
        if dest is None:
            continue  # metadata, browse images, .xml sidecars
        entry = info.get(name, {})
        cks = entry.get("Checksum") or {}
        checksum = (str(cks["Algorithm"]).lower(), str(cks["Value"]).lower()) if cks.get("Value") else None
        out.append(Remote(url, dest, _size_bytes(entry), checksum, _approx_bytes(entry)))
    return out


def search(
    key: str, bbox: tuple[float, float, float, float], period: tuple[str, str], gldas_stream: str = "main"
) -> list[Remote]:
    """The files of ``key`` ('smap' | 'gldas') over ``bbox`` (W, S, E, N degrees) and ``period`` (inclusive
    dates), one per file name (a granule listed twice is fetched once), in date order."""
    coll = collection(key, gldas_stream)
    ea = _earthaccess()
    start, end = (pd.Timestamp(p) for p in period)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning)  # earthaccess's own DataGranule.size notice
            granules = ea.search_data(
                short_name=coll.short_name,
                version=coll.version,
                bounding_box=tuple(bbox),
                temporal=(f"{start:%Y-%m-%d}T00:00:00Z", f"{end:%Y-%m-%d}T23:59:59Z"),
            )
    except Exception as exc:  # network / CMR errors from the remote service: one line
        raise StsgError(f"Earthdata search for {coll.short_name} v{coll.version} failed: {exc}") from None
    found: dict[str, Remote] = {}
    for g in granules:
        for r in granule_remotes(g, coll):
            if start <= coll.day(r.path) <= end:
                found.setdefault(r.path, r)
    return [found[k] for k in sorted(found)]


def login_session(strategy: str = "all") -> Any:
    """An authenticated ``requests`` session (earthaccess's login strategies; never interactive unless
    ``strategy='interactive'``): one-line error when no credentials are found or they are refused."""
    ea = _earthaccess()
    strategies = ("environment", "netrc") if strategy == "all" else (strategy,)
    problems = []
    for s in strategies:
        try:
            auth = ea.login(strategy=s)
        except Exception as exc:  # missing credentials, refused login, unreachable URS
            problems.append(f"{s}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
            continue
        if getattr(auth, "authenticated", False):
            return ea.get_requests_https_session()
        problems.append(f"{s}: not authenticated")
    raise StsgError(
        "Earthdata login failed ("
        + "; ".join(problems)
        + "): set EARTHDATA_USERNAME and EARTHDATA_PASSWORD (or EARTHDATA_TOKEN), or add "
        "'machine urs.earthdata.nasa.gov login USER password PASS' to ~/.netrc"
    )
