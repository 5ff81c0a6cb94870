"""The ``stsg-bench`` command line (the top floor: it only parses arguments and calls library code).

Every user-caused error (:class:`~stsg_bench.errors.StsgError`) is printed as one line and exits with
status 2; no traceback unless ``--debug``.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

from . import __version__, kernels, plugins, progress, threads
from .errors import ConfigError, StsgError
from .files import damaged_input, guard_output, output_lock
from .threads import ENV

log = logging.getLogger("stsg_bench")
COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(name: str):
    def deco(fn):
        COMMANDS[name] = fn
        return fn

    return deco


# -- commands ----------------------------------------------------------------------------------------
@command("twin")
def _twin(args) -> int:
    from .twin import get_spec

    overrides = {"ndays": args.days, "errors": args.errors}
    spec = get_spec(args.preset, **{k: v for k, v in overrides.items() if v is not None})
    if not (spec.lazy or args.chunk_days):
        need = spec.ndays * spec.window.shape[0] * spec.window.shape[1] * 40  # bytes: fields + the case copy
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        if need > 0.5 * total:
            raise StsgError(
                f"--days {spec.ndays}: an in-memory twin of {spec.window.shape[0]}x{spec.window.shape[1]} cells needs "
                f"~{need / 2**30:.0f} GiB (this machine has {total / 2**30:.0f}); "
                "add --chunk-days N to write it day by day"
            )
    guard_output(args.out, overwrite=args.overwrite, folder=True)
    with output_lock(args.out):
        return _write_twin(args, spec)


def _write_twin(args, spec) -> int:
    from .twin import generate_twin, write_twin, write_twin_chunked

    if spec.lazy or args.chunk_days:
        out = write_twin_chunked(spec, args.out, seed=args.seed, chunk_days=args.chunk_days or 32, progress=True)
        print(f"wrote {out / 'case'} (one file per {args.chunk_days or 32} days) and stations under {out / 'ismn'}")
        return 0
    from .validation.twin_stats import case_statistics, format_statistics

    twin = generate_twin(spec, seed=args.seed, progress=True)
    out = write_twin(twin, args.out)
    print(f"wrote {out / 'case.nc'} and {len(twin.stations)} stations under {out / 'ismn'}")
    print(f"realised statistics ('{spec.errors}' errors):")
    print(format_statistics(case_statistics(twin.case, twin.stations)))
    return 0


@command("case")
def _case(args) -> int:
    from .cards import build_case_from_card, card_inputs, load_card

    if args.chunk_days:
        from .workflows.case_build import build_case_chunked

        summary = build_case_chunked(
            args.name,
            args.out,
            data_root=args.data_root,
            chunk_days=args.chunk_days,
            scheduler=args.scheduler,
            restart=args.restart,
            progress=True,
        )
        for n in summary.notes:
            log.info("%s", n)
        print(summary.line(args.out))
        return 0
    card = load_card(args.name)
    guard_output(args.out, card_inputs(card, args.data_root), overwrite=args.overwrite)
    with output_lock(args.out):
        ds, notes = build_case_from_card(card, data_root=args.data_root, out=args.out)
    for n in notes:
        print(f"note: {n}")
    print(f"wrote {args.out}: {ds.sizes['time']} days on a {ds.sizes['y']}x{ds.sizes['x']} window")
    return 0


@command("card")
def _card(args) -> int:
    from .cards import card_text
    from .files import write_text_atomic

    text = card_text(
        args.name,
        tuple(args.bbox),
        (args.period[0], args.period[1]),
        args.smap,
        args.gldas,
        args.ismn,
        data_root=args.data_root,
    )
    out = guard_output(args.out or Path("datasets") / f"{args.name}.toml", overwrite=args.overwrite)
    with output_lock(out):
        write_text_atomic(text, out)
    print(f"wrote {out}")
    return 0


@command("fetch")
def _fetch(args) -> int:
    from .workflows.fetch import FetchRequest, dry_run, fetch_command

    period = _period(args.period)
    assert isinstance(period, tuple)  # two dates (argparse's nargs=2)
    req = FetchRequest(tuple(args.products), tuple(args.bbox), period, args.gldas_stream)
    if args.dry_run:
        print(dry_run(req, args.out))
        return 0
    print(fetch_command(req, args.out, workers=args.workers, retries=args.retries, login=args.login, progress=True))
    return 0


@command("ismn")
def _ismn(args) -> int:
    from .io.ismn_check import summarize

    summary = summarize(args.source, depth=tuple(args.depth), flags=args.flags)
    print(summary.format())
    return 0


@command("methods")
def _methods(args) -> int:
    from .methods import list_methods, method_description

    for name in list_methods():
        print(f"{name:15s} {method_description(name)}")
    return 0


@command("fuse")
def _fuse(args) -> int:
    from .workflows.commands import fuse_command

    fuse_command(
        method=args.method,
        case_path=args.case,
        out=args.out,
        config_file=args.config,
        checkpoint=args.checkpoint,
        device=args.device,
        train_period=args.train_period,
        period=_period(args.period),
        chunk=args.chunk_by_year,
        scheduler=args.scheduler,
        chunk_days=args.chunk_days,
        overwrite=args.overwrite,
        restart=args.restart,
        fmt=args.format,
    )
    print(f"wrote {args.out}")
    return 0


@command("train")
def _train(args) -> int:
    from .workflows.commands import train_command

    train_command(
        case_path=args.case,
        config_file=args.config,
        out=args.out,
        device=args.device,
        train_period=args.train_period,
        overwrite=args.overwrite,
    )
    print(f"wrote {args.out}")
    return 0


@command("product")
def _product(args) -> int:
    from .workflows.commands import import_command

    notes = import_command(
        source=args.source,
        case_path=args.case,
        out=args.out,
        variable=args.variable,
        name=args.name,
        overwrite=args.overwrite,
        layer_depth=args.layer_depth,
    )
    for n in notes:
        print(f"note: {n}")
    print(f"wrote {args.out}")
    return 0


@command("score")
def _score(args) -> int:
    from .workflows.commands import score_command

    overrides = {
        "depth": tuple(args.depth) if args.depth else None,
        "flags": tuple(args.flags) if args.flags else None,
        "min_obs": args.min_obs,
    }
    res = score_command(
        case_path=args.case,
        products=args.products,
        insitu=args.insitu,
        out=args.out,
        scheduler=args.scheduler,
        chunk_days=args.chunk_days,
        card=args.card,
        overrides=overrides,
        overwrite=args.overwrite,
        period=_period(args.period),
    )
    print(f"wrote {args.out} ({res.sizes.get('product', 0)} products)")
    return 0


@command("scale")
def _scale(args) -> int:
    from .workflows.scale import ScaleConfig, run_scale

    cfg = ScaleConfig(
        chunk_days=args.chunk_days,
        scheduler=args.scheduler,
        min_obs=args.min_obs,
        train=tuple(args.train_period) if args.train_period else None,
        period=tuple(args.period) if args.period else None,
        restart=args.restart,
    )
    if args.methods:
        cfg.methods = tuple(args.methods)
    s = run_scale(args.case, args.insitu, args.out, cfg, progress=True)
    print(
        f"{s['days']} days of {s['grid'][0]}x{s['grid'][1]} in {s['seconds']['total_s']} s "
        f"({s['days_per_second']} days/s), peak memory {s['peak_rss_mb']} MiB; wrote {args.out}"
    )
    return 0


@command("report")
def _report(args) -> int:
    from .errors import InputError
    from .reports import write_report

    if args.case is not None and not Path(args.case).is_file():
        raise InputError(args.case, "no such case file (--case)")
    out = guard_output(args.out, [args.results, args.case], overwrite=args.overwrite, folder=True)
    with output_lock(out):
        index = write_report(args.results, out, case_path=args.case, reference_product=args.reference_product)
    print(f"wrote {index}")
    return 0


@command("export")
def _export(args) -> int:
    from .reports.qa4sm import export_qa4sm

    out = guard_output(args.out, [args.results], overwrite=args.overwrite)
    with output_lock(out):
        notes = export_qa4sm(args.results, out, reference=args.reference, products=args.products)
    for note in notes:
        log.warning("%s", note)
    print(f"wrote {out}")
    return 0


@command("check")
def _check(args) -> int:
    from .reports.gate import check_command

    return check_command(args.results, args.reference, tolerance_file=args.tolerances, update=args.update)


@command("demo")
def _demo(args) -> int:
    from .workflows.chain import run_demo

    summary = run_demo(
        out=args.out,
        preset=args.preset,
        seed=args.seed,
        methods=args.methods,
        progress=True,
        overwrite=args.overwrite,
        seeds=args.seeds,
    )
    print(summary)
    return 0


@command("run")
def _run(args) -> int:
    from .workflows.chain import run_config

    summary = run_config(
        args.config,
        out=args.out,
        data_root=args.data_root,
        progress=True,
        overwrite=args.overwrite,
        seeds=args.seeds,
        case=args.case,
    )
    print(summary)
    return 0


# -- argument types: checked at the edge, one-line errors ---------------------------------------------
def _count(minimum: int):
    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got {text!r}") from None
        if n < minimum:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got {n}")
        return n

    parse.__name__ = f"whole number >= {minimum}"
    return parse


def _date(text: str) -> str:
    import pandas as pd

    try:
        return str(pd.Timestamp(text).date())
    except (ValueError, TypeError):
        raise argparse.ArgumentTypeError(f"cannot parse the date {text!r} (YYYY-MM-DD)") from None


def _period(values: list[str] | None) -> tuple[str, str] | str | None:
    """``--period``: None (not given), ``all``, or START END (dates checked)."""
    if values is None:
        return None
    if values == ["all"]:
        return "all"
    if len(values) != 2:
        raise ConfigError("--period takes 'all' or two dates START END (YYYY-MM-DD)")
    try:
        start, end = (_date(v) for v in values)
    except argparse.ArgumentTypeError as exc:
        raise ConfigError(f"--period: {exc}") from None
    return start, end


def _device(text: str) -> str:
    if text == "cpu" or re.fullmatch(r"cuda(:\d+)?", text):
        return text
    raise argparse.ArgumentTypeError(f"unknown device {text!r} (valid: cpu, cuda, cuda:N)")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block), exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


# -- parser ------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="stsg-bench",
        description="Build, compare and regression-check seamless daily soil-moisture products "
        "(DrcGAN SMAP+GLDAS fusion and baselines, scored against ISMN in-situ data).",
    )
    p.add_argument("--version", action="version", version=f"stsg-bench {__version__}")
    p.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more log output: -v info, -vv debug (stsg-bench's own), -vvv debug from every library too",
    )
    p.add_argument(
        "-q", "--quiet", action="store_true", help="errors only on standard error: no warnings or progress bars"
    )
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bars (default: only when standard error is a terminal)",
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    p.add_argument(
        "--threads",
        default=None,
        metavar="N",
        help=f"CPU threads for torch kernels (default: the usable CPUs minus those other processes keep busy, "
        f"re-checked as the load changes; or ${ENV})",
    )
    p.add_argument(
        "--kernels",
        default=None,
        choices=kernels.MODES,
        help=f"CPU kernels: fast (torch's defaults: bits depend on the CPU and thread count) or reproducible "
        f"(the same bits on any x86-64 CPU and load; slower; one thread unless --threads). Default: ${kernels.ENV} "
        "or fast; a run config may ask for reproducible",
    )
    p.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE before the command (methods, metrics, readers it registers become usable; "
        "repeatable). Installed plug-ins (entry points stsg_bench.methods/metrics/readers) load by themselves",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("twin", help="generate the synthetic twin (case.nc + ISMN station files)")
    _overwrite_option(s)
    s.add_argument(
        "--preset", default="realistic", help="tiny | gate | small | realistic | global (default: realistic)"
    )
    s.add_argument(
        "--errors", choices=("white", "realistic"), default=None, help="observation error model (default: the preset's)"
    )
    s.add_argument("--seed", type=_count(0), default=0)
    s.add_argument("--days", type=_count(1), default=None, help="number of days (default: the preset's)")
    s.add_argument(
        "--chunk-days",
        type=_count(1),
        default=None,
        help="write OUT/case/case_YYYYMMDD.nc per N days, generating day by day (always for 'global')",
    )
    s.add_argument("--out", type=Path, required=True, help="output folder")

    s = sub.add_parser("case", help="build a case dataset from a dataset card (a name such as hawaii, or a path)")
    _overwrite_option(s)
    s.add_argument("name", help="card name (./datasets/NAME.toml, else packaged) or a path to a card")
    s.add_argument("--out", type=Path, required=True, help="case netCDF to write (a folder with --chunk-days)")
    s.add_argument("--data-root", type=Path, default=None, help="data folder (default: $STSG_DATA or ../shared/data)")
    s.add_argument(
        "--chunk-days",
        type=_count(1),
        default=None,
        help="archive scale: write OUT/case_YYYYMMDD.nc per N days from the native files, memory independent of "
        "the number of days; a rerun resumes",
    )
    s.add_argument("--restart", action="store_true", help="with --chunk-days: rebuild every chunk")
    s.add_argument(
        "--scheduler", default="processes", help="with --chunk-days: dask scheduler for the chunks (default: processes)"
    )

    s = sub.add_parser("card", help="'card new': write a dataset card for your region and period")
    csub = s.add_subparsers(dest="card_command", required=True, metavar="new")
    s = csub.add_parser("new", help="a card over a lon/lat box from SPL3SMP and GLDAS folders (and ISMN)")
    _overwrite_option(s)
    s.add_argument("name", type=_card_name)
    s.add_argument("--bbox", type=float, nargs=4, metavar=("W", "S", "E", "N"), required=True, help="degrees")
    s.add_argument("--period", nargs=2, metavar=("START", "END"), required=True, help="YYYY-MM-DD YYYY-MM-DD")
    s.add_argument("--smap", type=Path, required=True, help="folder of SPL3SMP granules (SMAP_L3_SM_P_*.h5)")
    s.add_argument("--gldas", type=Path, required=True, help="folder of GLDAS_NOAH025_3H 2.1 files")
    s.add_argument("--ismn", type=Path, default=None, help="ISMN download (folder or zip)")
    s.add_argument("--data-root", type=Path, default=None, help="write paths under it relative to it")
    s.add_argument("--out", type=Path, default=None, help="card file (default: datasets/NAME.toml)")

    s = sub.add_parser("fetch", help="download SMAP L3 + GLDAS Noah (NASA Earthdata) and ERA5-Land (CDS) for a box")
    s.add_argument(
        "products",
        nargs="*",
        default=["smap", "gldas"],
        metavar="PRODUCT",
        help="smap gldas era5-land (default: smap gldas)",
    )
    s.add_argument("--bbox", type=float, nargs=4, metavar=("W", "S", "E", "N"), required=True, help="degrees")
    s.add_argument("--period", nargs=2, metavar=("START", "END"), required=True, help="YYYY-MM-DD YYYY-MM-DD")
    s.add_argument("--out", type=Path, required=True, help="folder (resumable: a rerun skips complete files)")
    s.add_argument("--dry-run", action="store_true", help="list the files and their total size; download nothing")
    s.add_argument("--workers", type=_count(1), default=4, help="parallel downloads (default: 4)")
    s.add_argument("--retries", type=_count(0), default=3, help="retries per file after a dropped connection (3)")
    s.add_argument("--gldas-stream", choices=["main", "early"], default="main", help="GLDAS-2.1 production stream")
    s.add_argument(
        "--login",
        choices=["all", "environment", "netrc", "interactive"],
        default="all",
        help="Earthdata login: environment (EARTHDATA_USERNAME/PASSWORD or TOKEN), netrc, or all (both, in order)",
    )

    s = sub.add_parser("ismn", help="'ismn check': what an ISMN download holds (networks, stations, depths, period)")
    isub = s.add_subparsers(dest="ismn_command", required=True, metavar="check")
    s = isub.add_parser("check", help="read an ISMN download (folder or zip) as scoring will and summarise it")
    s.add_argument("source", type=Path, help="ISMN download: folder or .zip (CEOP or header+values format)")
    s.add_argument(
        "--depth", nargs=2, type=float, metavar=("FROM", "TO"), default=[0.0, 0.1], help="m (default: 0 0.1)"
    )
    s.add_argument("--flags", nargs="+", default=["G"], help="ISMN quality flags counted as usable (default: G)")

    sub.add_parser("methods", help="list the registered fusion methods")

    s = sub.add_parser("fuse", help="fit a method on a case's training period and write its product")
    _overwrite_option(s)
    s.add_argument("--method", required=True, help="a registered method (see `stsg-bench methods`)")
    s.add_argument("--case", type=Path, required=True)
    s.add_argument("--out", type=Path, required=True, help="product netCDF to write")
    s.add_argument("--config", type=Path, default=None, help="method config: TOML path or packaged name (starfm)")
    s.add_argument("--checkpoint", type=Path, default=None, help="DrcGAN checkpoint (skips training)")
    s.add_argument("--device", type=_device, default="cpu", help="cpu | cuda | cuda:N (torch methods)")
    s.add_argument("--train-period", nargs=2, type=_date, metavar=("START", "END"), default=None)
    s.add_argument(
        "--period",
        nargs="+",
        metavar="all | START END",
        default=None,
        help="days to predict (default: the test period, after the training period; 'all': every day of the case)",
    )
    s.add_argument(
        "--chunk-by-year",
        action="store_true",
        help="CASE may be a folder of case_*.nc chunks; write OUT/NAME_YYYY.nc per year, streamed; a rerun resumes",
    )
    s.add_argument("--restart", action="store_true", help="with --chunk-by-year: recompute the finished years")
    s.add_argument(
        "--format",
        choices=["netcdf", "zarr"],
        default="netcdf",
        help="with --chunk-by-year: per-year NAME_YYYY.nc files or NAME_YYYY.zarr stores (a single --out "
        "ending in .zarr is always a Zarr store)",
    )
    _dask_options(s)

    s = sub.add_parser("train", help="train DrcGAN on a case and write a checkpoint")
    _overwrite_option(s)
    s.add_argument("--case", type=Path, required=True)
    s.add_argument(
        "--config",
        default="demo",
        help="a preset ('demo', 'paper', 'test') or a method config (TOML path or packaged name), as for fuse (drcgan)",
    )
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--device", type=_device, default="cpu", help="cpu | cuda | cuda:N")
    s.add_argument("--train-period", nargs=2, type=_date, metavar=("START", "END"), default=None)

    s = sub.add_parser("product", help="external products: 'product import' maps one onto a case's cells")
    psub = s.add_subparsers(dest="product_command", required=True, metavar="ACTION")
    s = psub.add_parser(
        "import",
        help="a product (lat/lon or EASE2 grid; netCDF, Zarr, GeoTIFF/COG) -> a product file on the case's cells",
    )
    _overwrite_option(s)
    s.add_argument(
        "source",
        type=Path,
        help="CF netCDF / Zarr with (time, lat, lon) or EASE2 (time, y, x), a GeoTIFF, or a folder of such files",
    )
    s.add_argument("--case", type=Path, required=True, help="the case whose cells and days the product is put on")
    s.add_argument("--out", type=Path, required=True, help="product netCDF to write")
    s.add_argument("--variable", default=None, help="the soil-moisture variable (default: the only one, else 'sm')")
    s.add_argument("--name", default=None, help="the product's name in scores and reports (default: file name)")
    s.add_argument(
        "--layer-depth",
        type=float,
        default=None,
        metavar="M",
        help="depth (m) of the layer a water amount in kg m-2 is given for (converted to m3 m-3)",
    )

    s = sub.add_parser("score", help="score products against in-situ stations (and truth on the twin)")
    _overwrite_option(s)
    s.add_argument("--case", type=Path, required=True)
    s.add_argument(
        "--products",
        type=Path,
        nargs="+",
        required=True,
        help="product files; several files of one method (e.g. NAME_YYYY.nc chunks) are joined in time",
    )
    s.add_argument("--insitu", type=Path, default=None, help="ISMN folder or zip")
    s.add_argument("--out", type=Path, required=True, help="results netCDF")
    s.add_argument(
        "--card",
        default=None,
        help="take the station matching settings from this dataset card (default: those the case was built with)",
    )
    s.add_argument("--depth", nargs=2, type=float, metavar=("FROM", "TO"), default=None, help="sensor depth range, m")
    s.add_argument("--flags", nargs="+", default=None, help="ISMN quality flags kept (default: G)")
    s.add_argument("--min-obs", type=_count(1), default=None, help="matched days for per-station scores (default: 20)")
    s.add_argument(
        "--period",
        nargs="+",
        metavar="all | START END",
        default=None,
        help="days scored (default: the case's test period; 'all': every day), within the days every product has",
    )
    _dask_options(s)

    s = sub.add_parser("scale", help="archive-scale chain on a chunked case: fit -> per-year products -> scores")
    s.add_argument("case", type=Path, help="case file or folder of case_*.nc chunks (e.g. from `twin --preset global`)")
    s.add_argument("--insitu", type=Path, default=None, help="ISMN folder or zip")
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--methods", nargs="+", default=None, help="default: lin_cdf_match starfm")
    s.add_argument(
        "--train-period",
        nargs=2,
        type=_date,
        metavar=("START", "END"),
        default=None,
        help="default: the case's training period (its train_end, else the first half), as run and fuse",
    )
    s.add_argument("--period", nargs=2, type=_date, metavar=("START", "END"), default=None)
    s.add_argument("--min-obs", type=_count(1), default=20)
    s.add_argument("--restart", action="store_true", help="recompute the finished years of an earlier run in OUT")
    _dask_options(s)

    s = sub.add_parser("report", help="render a results file as tables, figures and index.html")
    _overwrite_option(s)
    s.add_argument("results", type=Path)
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--case", type=Path, default=None, help="case file (enables maps)")
    s.add_argument(
        "--reference-product",
        default=None,
        help="the scorecard's baseline product (default: SMAP alone, smap_only)",
    )

    s = sub.add_parser("export", help="write a results file in another tool's layout (QA4SM, for qa4sm-reader)")
    _overwrite_option(s)
    s.add_argument("results", type=Path)
    s.add_argument("--format", choices=["qa4sm"], default="qa4sm", help="target layout (default: qa4sm)")
    s.add_argument("--out", type=Path, required=True, help="netCDF file to write")
    s.add_argument("--reference", default=None, help="in-situ reference to export (default: insitu_same, else insitu)")
    s.add_argument("--products", nargs="+", default=None, help="products to export, in order (default: all)")

    s = sub.add_parser("check", help="accuracy gate: compare results with a committed reference")
    s.add_argument("results", type=Path)
    s.add_argument(
        "--reference",
        type=Path,
        default=None,
        help="folder with results.nc (+ tolerances.toml); default: the packaged gate reference (`run gate`)",
    )
    s.add_argument(
        "--tolerances", type=Path, default=None, help="TOML [tolerances] (default: REFERENCE/tolerances.toml)"
    )
    s.add_argument("--update", action="store_true", help="replace the reference with these results")

    s = sub.add_parser("demo", help="the main job: twin -> all methods -> scores -> report")
    _overwrite_option(s)
    s.add_argument("--out", type=Path, default=Path("demo_out"))
    s.add_argument("--preset", default="realistic", help="twin preset (default: realistic; 'small': white errors)")
    s.add_argument("--seed", type=_count(0), default=0)
    s.add_argument("--methods", nargs="+", default=None, help="subset of methods (default: all)")
    s.add_argument("--seeds", type=_count(1), default=None, help=SEEDS_HELP)

    s = sub.add_parser("run", help="the full chain on a case described by a run config / dataset card")
    _overwrite_option(s)
    s.add_argument("config", type=Path, help="run config or dataset card: a TOML path, a card name (hawaii), or gate")
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--data-root", type=Path, default=None)
    s.add_argument("--seeds", type=_count(1), default=None, help=SEEDS_HELP)
    s.add_argument(
        "--case",
        type=Path,
        default=None,
        help="the card's case already built (file, or folder from `case --chunk-days`; loaded into memory)",
    )
    return p


SEEDS_HELP = "train N models of each method that has seeds (DrcGAN): product = mean, sm_spread = sd"


def _card_name(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{0,63}", text):
        raise argparse.ArgumentTypeError(f"{text!r}: letters, digits, '_' and '-', starting with a letter")
    return text


def _overwrite_option(s: argparse.ArgumentParser) -> None:
    s.add_argument("--overwrite", action="store_true", help="replace an existing output (never an input)")


def _dask_options(s: argparse.ArgumentParser) -> None:
    s.add_argument(
        "--scheduler",
        default="threads",
        help="dask scheduler: threads (default) | synchronous | processes | local[:N] (LocalCluster) | tcp://HOST:PORT",
    )
    s.add_argument("--chunk-days", type=_count(1), default=32, help="days per dask block (bounds memory)")


def configure_output(verbose: int, quiet: bool, progress_bars: bool | None) -> None:
    """Log levels and progress bars: stsg-bench's own log at WARNING (INFO with -v, DEBUG with -vv, ERROR
    with --quiet); other libraries' (h5py, matplotlib, numba, ...) at WARNING unless -vvv."""
    own = logging.ERROR if quiet else logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(logging.DEBUG if verbose >= 3 else max(own, logging.WARNING))
    log.setLevel(own)
    progress.configure(False if quiet else progress_bars)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_output(args.verbose, args.quiet, args.progress)
    try:
        threads.configure(args.threads)
        kernels.configure(args.kernels, threads.parse_threads(args.threads))
        for module in args.plugin:
            plugins.load_module(module)
        return COMMANDS[args.command](args)
    except StsgError as err:
        if args.debug:
            raise
        print(f"stsg-bench {args.command}: error: {err}", file=sys.stderr)
        return 2
    except (OSError, RuntimeError) as err:  # damaged inputs, unwritable/missing outputs: still one line
        if args.debug:
            raise
        damaged = damaged_input(err)
        if damaged is not None:
            print(f"stsg-bench {args.command}: error: {damaged}", file=sys.stderr)
            return 2
        if not isinstance(err, OSError):
            raise
        where = f"{err.filename}: " if err.filename else ""
        print(f"stsg-bench {args.command}: error: {where}{err.strerror or err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
