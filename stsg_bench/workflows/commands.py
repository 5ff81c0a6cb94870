"""Single-stage commands behind ``stsg-bench fuse``, ``train`` and ``score``."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import pandas as pd
import xarray as xr

from ..cards import load_card, validation_from_case
from ..case import open_case
from ..errors import ConfigError, InputError
from ..files import guard_output, is_zarr, open_netcdf, output_lock
from ..io.external import import_external
from ..io.lazy import check_product_grid, on_case_grid, open_case_lazy, open_product_lazy, save_product
from ..methods import get_method, list_methods, load_method_config, method_class
from ..methods.drcgan import DrcGan
from ..provenance import (
    case_fingerprint,
    check_product_name,
    file_identity,
    from_attr,
    relative_name,
    software,
    to_attr,
)
from ..validation import ValidationConfig, save_results
from .produce import Chunks, default_periods, produce, score_products
from .scheduler import use_scheduler

log = logging.getLogger(__name__)


def fuse_command(
    method: str,
    case_path,
    out,
    config_file=None,
    checkpoint=None,
    device="cpu",
    train_period=None,
    period=None,
    chunk: bool = False,
    scheduler: str = "threads",
    chunk_days: int = 32,
    overwrite: bool = False,
    restart: bool = False,
    fmt: str = "netcdf",
) -> None:
    """``stsg-bench fuse``: fit a method and write its product (one file, or per-year chunks in a folder,
    which a rerun resumes; ``fmt``: the chunks' format, netCDF or Zarr — one product is a Zarr store when
    ``out`` ends in ``.zarr``); the output is checked before any work and locked while written."""
    method_class(method)  # an unknown name is an error before anything is opened
    if fmt == "zarr" and not chunk and not is_zarr(out):
        raise ConfigError(f"--format zarr: give --out NAME.zarr for one product (not {out}), or --chunk-by-year")
    inputs = [case_path, config_file, checkpoint]
    out = guard_output(out, inputs, overwrite=overwrite, folder=chunk, resume=chunk)
    with output_lock(out), use_scheduler(scheduler):
        case = open_case_lazy(case_path, chunk_days) if chunk else open_case(case_path)
        _fuse(
            method,
            case,
            case_path,
            out,
            config_file,
            checkpoint,
            device,
            train_period,
            period,
            chunk,
            chunk_days,
            restart,
            fmt,
        )


def _fuse(
    method, case, case_path, out, config_file, checkpoint, device, train_period, period, chunk, chunk_days, restart, fmt
) -> None:
    overrides: dict = {}
    if config_file and checkpoint:
        raise ConfigError(
            "give --config or --checkpoint, not both: a checkpoint carries the config it was trained with"
        )
    if config_file:
        cname, overrides = load_method_config(config_file)
        if cname != method:
            raise ConfigError(f"config {config_file} is for method '{cname}', not '{method}'")
    cls = method_class(method)
    fields = {f.name for f in dataclasses.fields(cls.Config)}
    if "device" in fields:
        overrides["device"] = device
    if checkpoint:
        if not cls.supports_checkpoint:
            raise ConfigError(f"--checkpoint: method '{method}' has no checkpoints")
        overrides["checkpoint"] = str(checkpoint)
    train, test = _fuse_periods(case, train_period, period)
    provenance = {"case": relative_name(case_path, [Path(out).parent]), "train_period": "/".join(train)}
    # chunked, as `scale` writes them: chunks checked before the training, then streamed year by year
    chunks = Chunks(Path(out), provenance, chunk_days, restart, fmt) if chunk else None
    for made in produce([get_method(method, **overrides)], case, train, test, chunks, progress=True):
        if chunks is None:
            save_product(made.product, Path(out), {**provenance, **made.info}, made.method.ancillary(), case=case)


def _fuse_periods(case: xr.Dataset, train_period, period) -> tuple[tuple[str, str], tuple[str, str]]:
    """Training and prediction periods of ``fuse``: by default the test period (the days after the training
    period), so in-sample days never mix into a product unless asked for (``period='all'``)."""
    times = case.indexes["time"]
    whole = (str(times[0].date()), str(times[-1].date()))
    if train_period:
        train = tuple(train_period)
        if not ((times >= pd.Timestamp(train[0])) & (times <= pd.Timestamp(train[1]))).any():
            raise ConfigError(f"the training period {train[0]}..{train[1]} selects no day of the case")
    else:  # the case's training period (train_end attribute, else the first half)
        train = default_periods(case)[0]
    if period == "all":
        return train, whole
    if period:
        return train, tuple(period)
    after = times[times > pd.Timestamp(train[1])]
    if len(after) == 0:
        raise ConfigError(
            f"no days after the training period ending {train[1]} to predict: give --period START END or --period all"
        )
    return train, (str(after[0].date()), whole[1])


def _scored_days(case: xr.Dataset, prods: dict[str, xr.DataArray], period) -> pd.DatetimeIndex:
    """The days every product is scored on: ``period`` (default the case's test period; ``all``: every
    day of the case) intersected with the days of every product, so the order of the files never matters."""
    times = case.indexes["time"]
    if period == "all":
        lo, hi = times[0], times[-1]
    else:
        start, end = period if period else default_periods(case)[1]
        lo, hi = pd.Timestamp(start), pd.Timestamp(end)
    days = times[(times >= lo) & (times <= hi)]
    for name, prod in prods.items():
        have = prod.indexes["time"]
        common = days.intersection(have)
        if len(common) == 0:
            raise ConfigError(
                f"product '{name}' ({have[0].date()}..{have[-1].date()}) has no day in the scored period "
                f"{lo.date()}..{hi.date()}; give --period START END or --period all"
            )
        if len(common) < len(days):
            log.warning(
                "product '%s' covers %d of the %d scored days: scoring the common days", name, len(common), len(days)
            )
        days = common
    return days


def import_command(
    source,
    case_path,
    out,
    variable: str | None = None,
    name: str | None = None,
    overwrite: bool = False,
    layer_depth: float | None = None,
) -> list[str]:
    """``stsg-bench product import``: an external product on a regular lat/lon grid (one file or a folder
    of daily files) -> a product file on the case's cells and days that ``score``, ``report`` and the gate
    treat like any method's (marked ``method_kind = external``). Returns the notes."""
    out = guard_output(out, [case_path, source], overwrite=overwrite)
    with output_lock(out):
        case = open_case(case_path)
        name = check_product_name(
            name or Path(source).stem, list_methods(), "--name" if name else f"{source} (file name)"
        )
        ext = import_external(source, case, name, variable, layer_depth)
        roots = [Path(out).parent]
        save_product(
            ext.sm,
            out,
            {
                "case": relative_name(case_path, roots),
                "source": relative_name(source, roots),
                "source_identity": to_attr(file_identity(source, roots)),
                "notes": "; ".join(ext.notes),
            },
            case=case,
        )
    return ext.notes


def train_command(case_path, config_file, out, device="cpu", train_period=None, overwrite: bool = False) -> None:
    """Train DrcGAN (the fusion the suite is built around, or one of its ablations) and write a checkpoint.

    ``config_file``: a preset name (``demo``, ``paper``, ``test``) or a method config TOML in the same
    dialect ``fuse --config`` reads (``method = "drcgan"`` optional here, a ``[config]`` table)."""
    from ..fusion import PRESETS, Trainer, save_checkpoint

    name = str(config_file or "demo")
    cfg_path = None if name in PRESETS else Path(name)
    out = guard_output(out, [case_path, cfg_path], overwrite=overwrite)
    if cfg_path is None:
        method, overrides = "drcgan", {"preset": name}
    else:
        method, overrides = load_method_config(cfg_path, default_method="drcgan")
    if not issubclass(method_class(method), DrcGan):
        raise InputError(cfg_path, f"method '{method}' is not trained into a checkpoint (DrcGAN methods are)", "method")
    m = get_method(method, **{**overrides, "device": device})
    assert isinstance(m, DrcGan)
    if m.config.seeds != 1:
        raise InputError(cfg_path, "a checkpoint holds one model: set seeds = 1 to train one", "config.seeds")
    with output_lock(out):
        case = open_case(case_path)
        train = tuple(train_period) if train_period else default_periods(case)[0]
        trainer = Trainer(m.model_config(m.config.seed), case, train, device).fit(progress=True)
        save_checkpoint(trainer, out, meta={"case": str(case_path), "method": method})


def score_command(
    case_path,
    products,
    insitu,
    out,
    scheduler: str = "threads",
    chunk_days: int = 32,
    card: str | None = None,
    overrides: dict | None = None,
    overwrite: bool = False,
    period=None,
) -> xr.Dataset:
    """Score product files (dask-backed, block by block); files of one method are joined in time.

    Every product is scored on the same days: ``period`` (default: the case's test period; ``"all"``: every
    day), restricted to the days all products cover, whatever the order of the files.

    Stations are matched with the settings of dataset card ``card`` when given, else those the case was
    built with (its card's ``[ismn]``, see :func:`stsg_bench.cards.validation_from_case`), with
    ``overrides`` (depth, flags, min_obs; None = not given) on top: the same settings ``run`` uses."""
    out = guard_output(out, [case_path, *products, insitu], overwrite=overwrite)
    if insitu is not None and not Path(insitu).exists():
        raise InputError(insitu, "no such ISMN folder or zip")
    with output_lock(out), use_scheduler(scheduler):
        case = open_case_lazy(case_path, chunk_days)
        fingerprint = case_fingerprint(case)
        by_method: dict[str, list[Path]] = {}
        for p in products:
            ds = open_netcdf(p, "product file")
            if "sm" not in ds:
                raise InputError(p, "variable missing", "sm")
            check_product_grid(p, ds, case, fingerprint)
            by_method.setdefault(ds["sm"].attrs.get("method", Path(p).stem), []).append(Path(p))
            ds.close()
        prods = {name: open_product_lazy(sorted(files), chunk_days) for name, files in by_method.items()}
        days = _scored_days(case, prods, period)
        prods = {name: on_case_grid(prod.sel(time=days), case) for name, prod in prods.items()}
        test = case.sel(time=days)
        base: ValidationConfig = load_card(card).validation if card else validation_from_case(case)
        vcfg = base.replace(**(overrides or {}))
        case_prov = from_attr(case.attrs.get("provenance"))
        roots = [Path(out).parent]
        attrs = {
            "case": relative_name(case_path, roots),
            "case_fingerprint": fingerprint,
            "test_period": f"{days[0].date()}/{days[-1].date()}",
            "citations": to_attr(case_prov.get("citations", {})),
            "provenance": to_attr(
                {
                    "software": software(),
                    "case_fingerprint": fingerprint,
                    "case_file": file_identity(case_path, roots),
                    "products": [file_identity(p, roots) for p in products],
                    "insitu": file_identity(insitu, roots) if insitu is not None else None,
                    "validation": dataclasses.asdict(vcfg),
                    **{k: v for k, v in case_prov.items() if k in ("card", "inputs", "citations")},
                }
            ),
        }
        ev = score_products(prods, test, insitu, vcfg, attrs=attrs)
        if ev is None:
            raise ConfigError("nothing to score against: the case has no truth and no --insitu stations were given")
        ev.results.attrs["notes"] = json.dumps(ev.notes)
        for note in ev.notes:
            log.warning("%s", note)
        save_results(ev.results, out)
        return ev.results
