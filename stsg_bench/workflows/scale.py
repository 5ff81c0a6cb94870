"""The archive-scale chain on a case stored in time chunks: fit -> chunked products -> scores.

``stsg-bench scale CASE_DIR --insitu ISMN_DIR --out OUT`` runs it. Everything stays dask-backed:
the case is opened lazily, each method is fitted (per-pixel scaling through ``apply_ufunc`` over blocks
of rows), predicted in ``chunk_days`` blocks into one resumable netCDF per year, and scored from the
written files (stations gathered block by block; gridded truth summed per day). Memory is bounded by the
chunk size, not by the length of the period. ``OUT/scale_summary.json`` records the timings, the
throughput in days per second and the process's peak resident memory.
"""

from __future__ import annotations

import json
import logging
import resource
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..case import select_period
from ..errors import InputError
from ..files import guard_output, output_lock, write_text_atomic
from ..io.lazy import open_case_lazy
from ..methods import get_method, method_class
from ..validation import ValidationConfig, save_results
from .produce import Chunks, default_periods, produce, score_products
from .scheduler import use_scheduler

log = logging.getLogger(__name__)


@dataclass
class ScaleConfig:
    methods: tuple[str, ...] = ("lin_cdf_match", "starfm")
    #: per-method overrides, on top of each method's own ``stream_overrides`` (e.g. STARFM's finite
    #: reference age, which it needs to stream in chunks)
    method_config: dict = field(default_factory=dict)
    train: tuple[str, str] | None = None  # default: the case's training period (train_end, else the first half)
    period: tuple[str, str] | None = None  # default: the whole case
    chunk_days: int = 32
    scheduler: str = "threads"
    min_obs: int = 20
    restart: bool = False  # recompute finished years (else a resumed run keeps them, fingerprints checked)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024.0 / (1024.0 if sys.platform == "darwin" else 1.0)


def run_scale(
    case_path: str | Path,
    insitu: str | Path | None,
    out: str | Path,
    cfg: ScaleConfig | None = None,
    progress: bool = False,
) -> dict:
    cfg = cfg or ScaleConfig()
    if insitu is not None and not Path(insitu).exists():  # before any work, not after the products
        raise InputError(insitu, "no such ISMN folder or zip")
    out = guard_output(out, [case_path, insitu], folder=True, resume=True)  # a rerun resumes the products
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    with output_lock(out), use_scheduler(cfg.scheduler):
        case = open_case_lazy(case_path, cfg.chunk_days)
        days = case.indexes["time"]
        train = cfg.train or default_periods(case)[0]  # the one rule of every command (train_end, else half)
        period = cfg.period or (str(days[0].date()), str(days[-1].date()))
        n_days = select_period(case, period).sizes["time"]
        products = {}
        provenance = {"case": str(case_path), "train_period": "/".join(train)}
        methods = [
            get_method(n, **{**method_class(n).stream_overrides, **cfg.method_config.get(n, {})}) for n in cfg.methods
        ]
        # the path of `fuse --chunk-by-year`: every finished year checked before any training
        chunks = Chunks(out / "products", provenance, cfg.chunk_days, cfg.restart)
        for made in produce(methods, case, train, period, chunks, progress=progress):
            timings[f"{made.name}_fit_s"] = made.info["fit_seconds"]
            timings[f"{made.name}_predict_s"] = made.info["predict_seconds"]
            products[made.name] = made.product
        t0 = time.perf_counter()
        vcfg = ValidationConfig(min_obs=cfg.min_obs)
        ev = score_products(products, select_period(case, period), insitu, vcfg, attrs={"case": str(case_path)})
        if ev is not None:
            save_results(ev.results, out / "results.nc")
        timings["score_s"] = round(time.perf_counter() - t0, 2)
    total = time.perf_counter() - t_start
    summary = {
        "case": str(case_path),
        "grid": [int(case.sizes["y"]), int(case.sizes["x"])],
        "days": int(n_days),
        "train": list(train),
        "config": asdict(cfg),
        "seconds": {**timings, "total_s": round(total, 2)},
        "days_per_second": round(n_days / total, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    write_text_atomic(json.dumps(summary, indent=2), out / "scale_summary.json")
    return summary
