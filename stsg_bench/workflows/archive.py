"""Archive-scale products written per chunk (one CF netCDF per year), resumable.

Each chunk file is written atomically (temporary file + rename) and marked ``chunk_complete = 1``, so a
run killed mid-way leaves only finished chunks (and perhaps an ignored temporary file). Running again
skips the finished chunks after checking them; a finished-looking chunk that cannot be read, or whose
days do not match, stops the run with an error naming the file instead of being overwritten. The
result of an interrupted-and-resumed run is identical to an uninterrupted one (given a deterministic
method fit, e.g. a seeded CPU run or a saved DrcGAN checkpoint). The chunks are written by
:func:`stsg_bench.workflows.produce.produce` (``fuse --chunk-by-year``, ``scale``); this module names,
fingerprints and checks them.
"""

from __future__ import annotations

import hashlib
import logging
import weakref
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..case import select_period
from ..errors import InputError
from ..files import open_netcdf
from ..io.lazy import open_product_lazy
from ..methods import Method
from ..provenance import case_content_hash

log = logging.getLogger(__name__)


#: file suffix of a per-year chunk in each output format
CHUNK_SUFFIX = {"netcdf": ".nc", "zarr": ".zarr"}


def chunk_path(out_dir: Path, method: str, year: int, fmt: str = "netcdf") -> Path:
    """``OUT/NAME_YYYY.nc`` (or ``.zarr``, a Zarr store)."""
    return Path(out_dir) / f"{method}_{year}{CHUNK_SUFFIX[fmt]}"


#: id(case) -> (weak reference, hash of its values): one pass over a case per run, not one per method
#: and check (the case is not changed in place while a run uses it)
_VALUE_HASHES: dict[int, tuple[weakref.ref, str]] = {}


def _values_hash(case: xr.Dataset) -> str:
    hit = _VALUE_HASHES.get(id(case))
    if hit is not None and hit[0]() is case:
        return hit[1]
    value = case_content_hash(case)
    _VALUE_HASHES[id(case)] = (weakref.ref(case), value)
    weakref.finalize(case, _VALUE_HASHES.pop, id(case), None)
    return value


def run_fingerprint(method: Method, case: xr.Dataset, provenance: dict | None) -> str:
    """What a finished chunk was made from: the case (window, days, land, source and a hash of all its
    values), the method and its config, and the training period. A resumed run only keeps chunks with the
    same fingerprint."""
    t = case.indexes["time"]
    rows, cols = case["row"].values, case["col"].values
    parts = [
        f"rows {int(rows[0])}-{int(rows[-1])} cols {int(cols[0])}-{int(cols[-1])}",
        f"days {t[0].date()}..{t[-1].date()} ({len(t)})",
        f"land {int(np.asarray(case['land'].values).sum())}",
        f"source {case.attrs.get('source', '')}",
        f"values {_values_hash(case)}",
        f"method {method.name} {method.product_attrs().get('method_config', '')}",
        f"train {(provenance or {}).get('train_period', '')}",
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def check_chunk(path: Path, days: pd.DatetimeIndex, fingerprint: str | None = None) -> None:
    """Raise InputError unless ``path`` is a complete chunk holding exactly ``days`` (and, when given,
    made from the same case, method config and training period)."""
    ds = open_netcdf(path, "product chunk")
    with ds:
        if int(ds.attrs.get("chunk_complete", 0)) != 1:
            raise InputError(path, "chunk is not marked complete (written by another tool?)", "chunk_complete")
        if fingerprint is not None and ds.attrs.get("run_fingerprint") != fingerprint:
            raise InputError(
                path,
                "finished chunk made from another case, method config or training period; "
                "give --restart to recompute the finished years",
                "run_fingerprint",
            )
        if "sm" not in ds:
            raise InputError(path, "variable missing", "sm")
        got = pd.DatetimeIndex(ds["time"].values)
        if not got.equals(days):
            raise InputError(
                path, f"chunk holds {len(got)} days, expected {len(days)} ({days[0].date()}..{days[-1].date()})", "time"
            )


def check_resume(
    method: Method,
    case: xr.Dataset,
    out_dir: str | Path,
    period=None,
    provenance: dict | None = None,
    fmt: str = "netcdf",
) -> None:
    """Before any training: the finished chunks in ``out_dir`` must be complete, hold their year's days
    and come from the same case, method config and training period (else the error says --restart)."""
    fingerprint = run_fingerprint(method, case, provenance)
    times = select_period(case, period).indexes["time"]
    for year in sorted(set(times.year)):
        path = chunk_path(Path(out_dir), method.name, year, fmt)
        if path.exists():
            check_chunk(path, times[times.year == year], fingerprint)


def open_chunked(out_dir: str | Path, method: str) -> xr.DataArray:
    """Concatenate a method's chunk files or stores (in time order) into one product, loaded."""
    files = sorted(f for suffix in CHUNK_SUFFIX.values() for f in Path(out_dir).glob(f"{method}_*{suffix}"))
    if not files:
        raise InputError(out_dir, f"no chunk files {method}_YYYY.nc")
    return open_product_lazy(files).load()
