"""Archive-scale case builds: a ``files`` dataset card -> a folder of time-chunk case files
(``case_YYYYMMDD.nc``, ``chunk_days`` days each), read from the native granules chunk by chunk, so memory
depends on the chunk and the window, never on the number of days.

- The first chunk is built alone and fixes the land mask every chunk shares (a cell's land status must not
  change between chunks); the others run as Dask tasks on the chosen scheduler (``processes`` by default:
  the netCDF/HDF5 readers are not thread-safe), each writing its own file atomically.
- Resumable: ``build.json`` records the card (its SHA-256), the chunking and the land mask's fingerprint;
  a rerun skips every chunk already on disk, and refuses to mix with another card or chunking
  (``restart`` rebuilds everything).
- Provenance per chunk names the card and the input folders; the per-file checksums of the in-memory
  build (which reads every byte of the archive once more) are left out at this scale.

``fuse --chunk-by-year``, ``score``, ``scale`` and ``run --case`` read the folder (:func:`open_case_lazy`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..cards import Card, card_citations, card_inputs, default_data_root, load_card, read_files_case
from ..case import save_case
from ..errors import ConfigError, StsgError
from ..files import guard_output, output_lock, write_text_atomic
from ..io.lazy import case_files
from ..progress import bar
from ..provenance import relative_name, software
from .scheduler import use_scheduler

log = logging.getLogger(__name__)
MANIFEST = "build.json"


@dataclass
class BuildSummary:
    chunks: int
    built: int
    skipped: int
    days: int
    seconds: float
    notes: list[str]

    def line(self, out: Path) -> str:
        return (
            f"wrote {out}: {self.chunks} chunk files ({self.built} built, {self.skipped} already there), "
            f"{self.days} days in {self.seconds:.1f} s"
        )


def chunk_periods(period: tuple[str, str], chunk_days: int) -> list[tuple[str, str]]:
    """Consecutive periods of ``chunk_days`` days covering ``period`` (the last one shorter)."""
    days = pd.date_range(*period, freq="D")
    return [
        (str(days[i].date()), str(days[min(i + chunk_days, days.size) - 1].date()))
        for i in range(0, days.size, chunk_days)
    ]


def chunk_file(out: Path, period: tuple[str, str]) -> Path:
    return out / f"case_{pd.Timestamp(period[0]):%Y%m%d}.nc"


def _provenance(card: Card, data_root) -> dict:
    root = default_data_root(data_root)
    inputs = [{"name": relative_name(p, [root, card.path.parent])} for p in card_inputs(card, data_root)]
    return {
        "card": card.name,
        "card_kind": card.kind,
        "software": software(),
        "inputs": inputs,
        "build": "chunked (stsg-bench case --chunk-days): per-file checksums not computed",
        "citations": card_citations(card),
    }


def _build_chunk(
    card: Card, root, period, provenance: dict, land: np.ndarray | None, out: Path
) -> tuple[int, list[str], np.ndarray | None]:
    """One chunk file (a Dask task); returns (days, notes, the land mask it used when none was given). A
    chunk whose days SMAP and GLDAS do not share is reported, not written (0 days)."""
    try:
        case, notes = read_files_case(card, root, period, provenance, land=land)
    except StsgError as err:
        if "share no day" in str(err):
            return 0, [f"{period[0]}..{period[1]}: SMAP and GLDAS share no day; no chunk file"], None
        raise
    save_case(case, chunk_file(out, period))
    mask = np.asarray(case["land"].values, dtype=bool) if land is None else None
    return case.sizes["time"], [f"{period[0]}..{period[1]}: {n}" for n in notes], mask


def _card_sha(card: Card) -> str:
    return hashlib.sha256(card.path.read_bytes()).hexdigest() if card.path.is_file() else card.name


def _check_resume(out: Path, record: dict, restart: bool) -> None:
    path = out / MANIFEST
    if restart or not path.is_file():
        if not restart and out.is_dir() and any(out.glob("case_*.nc")):
            raise StsgError(
                f"{out}: holds case chunks but no {MANIFEST}; give --restart to rebuild it, or another --out"
            )
        return
    old = json.loads(path.read_text())
    for key in ("card", "card_sha256", "chunk_days", "period"):
        if old.get(key) != record.get(key):
            raise ConfigError(
                f"{out}: an earlier build with another {key} ({old.get(key)!r}, now {record.get(key)!r}); "
                "give --restart to rebuild, or another --out"
            )


def build_case_chunked(
    card_name: str | Path,
    out: str | Path,
    data_root=None,
    chunk_days: int = 32,
    scheduler: str = "processes",
    restart: bool = False,
    progress: bool = False,
) -> BuildSummary:
    """Build the case of a ``files`` card into ``out/case_YYYYMMDD.nc`` chunks (see the module docstring)."""
    t0 = time.perf_counter()
    card = load_card(card_name)
    if card.kind != "files":
        raise ConfigError(
            f"card '{card.name}' is a {card.kind} card: a chunked twin is `stsg-bench twin --chunk-days N`"
        )
    if card.period is None:
        raise ConfigError(f"card '{card.name}': a chunked build needs the card's period")
    out = guard_output(out, card_inputs(card, data_root), folder=True, resume=True)
    root = default_data_root(data_root)
    record = {"card": card.name, "card_sha256": _card_sha(card), "chunk_days": chunk_days, "period": list(card.period)}
    _check_resume(out, record, restart)
    periods = chunk_periods(card.period, chunk_days)
    prov = _provenance(card, data_root)
    out.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    with output_lock(out):
        if restart:
            for f in out.glob("case_*.nc"):
                f.unlink()
        todo = [p for p in periods if not chunk_file(out, p).is_file()]
        skipped = len(periods) - len(todo)
        land = _land_mask(out, card, root, prov, periods, todo, notes)
        write_text_atomic(json.dumps({**record, "complete": False}, indent=1) + "\n", out / MANIFEST)
        rest = [p for p in todo if not chunk_file(out, p).is_file()]  # the first chunk may have just been built
        built = len(todo) - len(rest)
        if rest:
            notes += _build_rest(card, root, rest, prov, land, out, scheduler, progress)
            built += len(rest)
        write_text_atomic(json.dumps({**record, "complete": True}, indent=1) + "\n", out / MANIFEST)
    days = sum(int(_days(f)) for f in case_files(out))
    return BuildSummary(len(list(out.glob("case_*.nc"))), built, skipped, days, time.perf_counter() - t0, notes)


def _build_rest(card, root, periods, prov, land, out, scheduler, progress) -> list[str]:
    """The chunks after the first as Dask tasks, one chunk per task (dask's process pool would otherwise
    send up to 6 to one worker), in batches of 4 per worker so a failure stops early and progress shows."""
    import dask

    from .. import threads

    tasks = [dask.delayed(_build_chunk)(card, root, p, prov, land, out) for p in periods]
    step = 4 * threads.current()
    batches = range(0, len(tasks), step)
    notes: list[str] = []
    with use_scheduler(scheduler), dask.config.set({"chunksize": 1}):
        for i in bar(batches, desc="case chunks", unit=f"{step} chunks") if progress else batches:
            for _, n, _ in dask.compute(*tasks[i : i + step]):
                notes += n
    return notes


def _land_mask(out: Path, card: Card, root, prov: dict, periods, todo, notes: list[str]) -> np.ndarray:
    """The land mask all chunks share: from an existing chunk, else from building the first one."""
    done = [chunk_file(out, p) for p in periods if chunk_file(out, p).is_file()]
    if done:
        import xarray as xr

        with xr.open_dataset(done[0]) as ds:
            return np.asarray(ds["land"].values, dtype=bool)
    for p in todo:  # the first chunk with data builds alone and fixes the mask
        days, n, mask = _build_chunk(card, root, p, prov, None, out)
        notes += n
        if mask is not None:  # built (days > 0): its mask is the case's
            return mask
    raise StsgError(f"{card.path}: SMAP and GLDAS share no day in the card's period")


def _days(path: Path) -> int:
    import xarray as xr

    with xr.open_dataset(path) as ds:
        return ds.sizes["time"]
