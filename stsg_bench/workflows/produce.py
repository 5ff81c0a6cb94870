"""One path for every command: periods -> :func:`produce` -> :func:`score_products`.

``run`` (and the demo), ``fuse``, ``fuse --chunk-by-year``, ``train`` and ``scale`` take their periods
from one rule (:func:`default_periods`: the card's, else the case's ``train_end``, else the first half);
they fit each method on the training period and predict a period, either in memory (``run``, ``fuse``)
or year by year into resumable chunk files (``fuse --chunk-by-year``, ``scale``: :class:`Chunks`).
``run``, ``scale`` and ``score`` then score the products in one call (:func:`score_products`: the
standard references of the case and stations, plus a run's own) and write ``results.nc``; ``fuse``
writes the product.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xarray as xr

from .. import threads
from ..case import select_period
from ..errors import ConfigError
from ..io.lazy import open_product_lazy, save_product
from ..methods import Method, predict_lazy
from ..progress import bar
from ..validation import Evaluation, ValidationConfig, evaluate, standard_references
from ..validation.evaluate import Reference
from .archive import check_chunk, check_resume, chunk_path, run_fingerprint

if TYPE_CHECKING:
    from ..cards import Card

log = logging.getLogger(__name__)
Period = tuple[str, str]


def default_periods(case: xr.Dataset, card: Card | None = None) -> tuple[Period, Period]:
    """Training and test periods, the one rule of every command: the card's, else the case's
    ``train_end`` attribute, else the first half / second half of the days."""
    times = case.indexes["time"]
    if card is not None and card.train_period and card.test_period:
        return card.train_period, card.test_period
    end = pd.Timestamp(case.attrs.get("train_end", times[len(times) // 2 - 1]))
    fmt = lambda t: str(pd.Timestamp(t).date())  # noqa: E731
    after = times[times > end]
    if len(after) == 0:
        raise ConfigError(f"no test days after the training period ending {fmt(end)}")
    return (fmt(times[0]), fmt(end)), (fmt(after[0]), fmt(times[-1]))


@dataclass
class Chunks:
    """Where and how chunked products are written: one file (or Zarr store) per method and year in
    ``out_dir``, each predicted in blocks of ``chunk_days`` days; finished years are checked and kept
    unless ``restart``. ``provenance`` goes into every chunk (and into its run fingerprint)."""

    out_dir: Path
    provenance: dict = field(default_factory=dict)
    chunk_days: int = 32
    restart: bool = False
    fmt: str = "netcdf"


@dataclass
class Made:
    """A product :func:`produce` made: in memory, or its chunk ``files`` opened lazily."""

    method: Method
    product: xr.DataArray
    info: dict  # fit_seconds, predict_seconds and the method's scalar fit information
    files: list[Path] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.method.name


def produce(
    methods: Sequence[Method],
    case: xr.Dataset,
    train,
    period,
    chunks: Chunks | None = None,
    given: dict[str, xr.DataArray] | None = None,
    progress: bool = False,
) -> Iterator[Made]:
    """Fit each method on ``train`` and predict ``period``: in memory, or into ``chunks``. Yields each
    product as soon as it is made (a caller writes or scores it before the next method starts).

    ``given``: products already made on this case, which a method built from others reuses
    (:meth:`Method.combines`); a caller may add to it between yields. With ``chunks``, every method's
    finished chunks are checked before any training, so a mismatched resume fails in seconds."""
    if chunks is not None and not chunks.restart:
        for m in methods:
            check_resume(m, case, chunks.out_dir, period, chunks.provenance, chunks.fmt)
    for m in bar(methods, desc="methods", unit="method") if progress and len(methods) > 1 else methods:
        threads.refresh()
        t0 = time.perf_counter()
        m.fit(case, train, progress=progress)
        if given:
            m.given_products(given, case)
        t1 = time.perf_counter()
        if chunks is None:
            product, files = m.predict(case, period), []
        else:
            files = _write_chunks(m, case, period, chunks, progress)
            product = open_product_lazy(files, chunks.chunk_days)
        info = {
            "fit_seconds": round(t1 - t0, 2),
            "predict_seconds": round(time.perf_counter() - t1, 2),
            **{k: v for k, v in m.fit_info.items() if np.isscalar(v)},
        }
        yield Made(m, product, info, files)


def _write_chunks(m: Method, case: xr.Dataset, period, chunks: Chunks, progress: bool) -> list[Path]:
    """Predict ``period`` year by year into ``chunks.out_dir`` (finished years checked and skipped);
    each year lazily in blocks of ``chunk_days`` days, streamed into its file, so memory is bounded by
    the block on whatever dask scheduler is active."""
    chunks.out_dir.mkdir(parents=True, exist_ok=True)
    fingerprint = run_fingerprint(m, case, chunks.provenance)
    times = select_period(case, period).indexes["time"]
    years = sorted(set(times.year))
    paths = []
    for year in bar(years, desc=f"{m.name} chunks", unit="year") if progress else years:
        days = times[times.year == year]
        path = chunk_path(chunks.out_dir, m.name, year, chunks.fmt)
        paths.append(path)
        if path.exists() and not chunks.restart:
            check_chunk(path, days, fingerprint)
            log.info("chunk %s already complete: skipped", path.name)
            continue
        prod = predict_lazy(m, case, (str(days[0].date()), str(days[-1].date())), chunks.chunk_days)
        attrs = {**chunks.provenance, "chunk": str(year), "chunk_complete": 1, "run_fingerprint": fingerprint}
        save_product(prod, path, attrs, case=case)
    return paths


def score_products(
    products: dict[str, xr.DataArray],
    test_case: xr.Dataset,
    insitu,
    cfg: ValidationConfig,
    extra: Sequence[Reference] = (),
    attrs: dict | None = None,
) -> Evaluation | None:
    """Score products on ``test_case`` (already cut to the scored days) against its standard references
    (the twin's truth where it has one; the stations of ``insitu``: a folder, zip or station series)
    and a run's ``extra`` ones (e.g. the hidden SMAP of simulated gaps). None when there is nothing to
    score against."""
    references = [*standard_references(test_case, insitu), *extra]
    if not references:
        return None
    return evaluate(products, test_case, references, cfg, attrs=attrs)
