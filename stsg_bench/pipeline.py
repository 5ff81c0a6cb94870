"""The full chain, usable from Python and behind the CLI: case -> every method (fit on the training
period, predict the test period) -> scores (in-situ, gap-aware, truth, simulated gaps) -> report.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .case import global_attrs, open_case, save_case, select_period
from .errors import ConfigError, InputError
from .grid import grid_mapping_attrs
from .io.cards import CaseBundle, build_bundle
from .io.ismn import read_ismn
from .io.write import open_netcdf, write_netcdf_atomic
from .methods import get_method, list_methods, load_method_config
from .io.toml import read_toml
from .validation import (
    MatchConfig, ScoreConfig, SimGapConfig, combine, hide_smap, match_stations, save_results, score_fields, score_insitu,
)


log = logging.getLogger(__name__)


METHOD_ORDER = ["noah_raw", "smap_only", "climatology", "mean_std", "lin_cdf_match", "starfm", "dctpls", "drcgan"]


@dataclass
class RunConfig:
    """What ``stsg-bench run CONFIG.toml`` reads (all optional except ``dataset``)."""

    dataset: str = "twin-small"
    methods: list[str] | None = None  # default: every registered method
    method_config: dict[str, dict] = field(default_factory=dict)  # per-method overrides
    train_period: tuple[str, str] | None = None
    test_period: tuple[str, str] | None = None
    simulated_gaps: bool = True
    simgap_fraction: float = 0.2
    min_obs: int = 20
    bootstrap: int = 0
    depth: tuple[float, float] | None = None  # default: the card's [ismn] depth or 0-0.10 m
    report: bool = True


def default_periods(case: xr.Dataset, card: dict | None = None) -> tuple[tuple[str, str], tuple[str, str]]:
    """Training and test periods: the card's, else the case's ``train_end`` attribute, else the first
    half / second half of the days."""
    card = card or {}
    times = case.indexes["time"]
    if "train_period" in card and "test_period" in card:
        return tuple(card["train_period"]), tuple(card["test_period"])
    end = pd.Timestamp(case.attrs.get("train_end", times[len(times) // 2 - 1]))
    fmt = lambda t: str(pd.Timestamp(t).date())  # noqa: E731
    after = times[times > end]
    if len(after) == 0:
        raise ConfigError(f"no test days after the training period ending {fmt(end)}")
    return (fmt(times[0]), fmt(end)), (fmt(after[0]), fmt(times[-1]))


def _sensors(bundle: CaseBundle):
    if bundle.insitu is None:
        return None
    if isinstance(bundle.insitu, (str, Path)):
        coll = read_ismn(bundle.insitu)
        for p in coll.problems:
            bundle.notes.append(f"ISMN: {p}")
        return coll.sensors
    return bundle.insitu


def _progress(items, desc: str, progress: bool):
    if not progress:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit="method")


def make_method(name: str, overrides: dict | None = None):
    return get_method(name, **(overrides or {}))


def fit_predict(name: str, case: xr.Dataset, train, test, overrides: dict | None = None, progress: bool = False) -> tuple[xr.DataArray, dict]:
    m = make_method(name, overrides)
    t0 = time.perf_counter()
    if name == "drcgan":
        m.fit(case, train, progress=progress)
    else:
        m.fit(case, train)
    t1 = time.perf_counter()
    prod = m.predict(case, test)
    info = {"fit_seconds": round(t1 - t0, 2), "predict_seconds": round(time.perf_counter() - t1, 2), **{k: v for k, v in m.fit_info.items() if np.isscalar(v)}}
    return prod, info


def save_product(prod: xr.DataArray, path: Path, provenance: dict) -> None:
    ds = prod.to_dataset(name="sm")
    ds["crs"] = xr.DataArray(np.int32(0), attrs=grid_mapping_attrs())
    ds.attrs = global_attrs(f"stsg-bench product: {prod.attrs.get('method', '')}", **{k: str(v) for k, v in provenance.items()})
    write_netcdf_atomic(ds, path, encoding={"sm": {"zlib": True, "complevel": 1, "dtype": "float32"}})


def run_chain(bundle: CaseBundle, out: str | Path, cfg: RunConfig, progress: bool = False) -> xr.Dataset:
    """Fit/predict every method, score, write ``out/results.nc``, ``out/products/`` and the report."""
    out = Path(out)
    case = bundle.case
    names = cfg.methods or sorted(list_methods(), key=lambda n: (METHOD_ORDER.index(n) if n in METHOD_ORDER else 99, n))
    for n in names:
        get_method(n, **cfg.method_config.get(n, {}))  # fail fast on unknown names / keys
    train, test = (tuple(cfg.train_period) if cfg.train_period else None), (tuple(cfg.test_period) if cfg.test_period else None)
    if train is None or test is None:
        dtrain, dtest = default_periods(case, bundle.card)
        train, test = train or dtrain, test or dtest
    log.info("training period %s, test period %s", train, test)
    products, infos = {}, {}
    (out / "products").mkdir(parents=True, exist_ok=True)
    for name in _progress(names, "methods", progress):
        prod, info = fit_predict(name, case, train, test, cfg.method_config.get(name), progress)
        products[name] = prod
        infos[name] = info
        save_product(prod, out / "products" / f"{name}.nc", {"case": bundle.card.get("name", ""), "train_period": "/".join(train), **info})
    test_case = select_period(case, test)
    scfg = ScoreConfig(min_obs=cfg.min_obs, bootstrap=cfg.bootstrap)
    parts = []
    sensors = _sensors(bundle)
    if sensors:
        depth = tuple(cfg.depth or bundle.card.get("ismn", {}).get("depth", (0.0, 0.10)))
        flags = tuple(bundle.card.get("ismn", {}).get("flags", ("G",)))
        table = match_stations(sensors, test_case, MatchConfig(flags=flags, depth=depth, min_obs=cfg.min_obs))
        for key, status in table.dropped:
            bundle.notes.append(f"station {key}: {status}")
        for key, status in zip(table.keys, table.status):
            if status != "ok":
                bundle.notes.append(f"station {key}: {status}")
        parts.append(score_insitu(products, test_case, table, scfg))
    if "truth" in case:
        parts.append(score_fields(products, test_case, test_case["truth"], "truth", cfg=scfg))
    if cfg.simulated_gaps:
        thin, hidden = hide_smap(case, SimGapConfig(fraction=cfg.simgap_fraction), period=test)
        sim = {}
        for name in _progress([n for n in names if n not in ("smap_only",)], "simulated gaps", progress):
            sim[name], _ = fit_predict(name, thin, train, test, cfg.method_config.get(name))
        parts.append(score_fields(sim, test_case, test_case["smap"], "hidden_smap", mask=hidden.sel(time=slice(*test)), cfg=scfg, splits=("all",)))
    attrs = {
        "case": bundle.card.get("name", ""),
        "train_period": "/".join(train),
        "test_period": "/".join(test),
        "methods": json.dumps(infos),
        "products": json.dumps({n: f"products/{n}.nc" for n in products}),
        "notes": json.dumps(bundle.notes),
        "smap_quality_rule": str(case.attrs.get("smap_quality_rule", "")),
    }
    results = combine(parts, attrs)
    save_results(results, out / "results.nc")
    if cfg.report:
        from .reports import write_report

        save_case(case, out / "case.nc")
        write_report(out / "results.nc", out / "report", case_path=out / "case.nc")
    return results


def summary_table(results: xr.Dataset) -> str:
    """One screen: pooled in-situ scores per method plus gap RMSE against truth / hidden SMAP."""
    from .reports.tables import summary_frame

    return summary_frame(results).to_string(float_format=lambda v: f"{v:.4f}")


def run_demo(out: str | Path = "demo_out", preset: str = "small", seed: int = 0, methods: list[str] | None = None, progress: bool = False) -> str:
    """The main job: synthetic twin -> all methods -> scores -> report. Returns the summary text."""
    from .twin import generate_twin, write_twin

    out = Path(out)
    t0 = time.perf_counter()
    twin = generate_twin(preset, seed=seed, progress=progress)
    write_twin(twin, out / "twin")
    bundle = CaseBundle(twin.case, {"name": f"twin-{preset}", "ismn": {"depth": [0.0, 0.1], "flags": ["G"]}}, twin.stations)
    results = run_chain(bundle, out, RunConfig(methods=methods), progress=progress)
    elapsed = time.perf_counter() - t0
    return (
        f"stsg-bench demo (twin '{preset}', seed {seed}) finished in {elapsed:.0f} s\n"
        + summary_table(results)
        + f"\n\nresults: {out / 'results.nc'}\nreport:  {out / 'report' / 'index.html'}"
    )


def load_run_config(path: str | Path) -> RunConfig:
    path = Path(path)
    if path.suffix != ".toml":
        return RunConfig(dataset=str(path))  # a bare card name
    data = read_toml(path, "run config")
    if data.get("kind") in ("twin", "files"):  # a dataset card itself
        return RunConfig(dataset=str(path))
    fields = set(RunConfig.__dataclass_fields__)
    unknown = sorted(set(data) - fields)
    if unknown:
        raise InputError(path, f"unknown key(s) {', '.join(unknown)} (valid: {', '.join(sorted(fields))})")
    return RunConfig(**data)


def run_config(path: str | Path, out: str | Path, data_root=None, progress: bool = False) -> str:
    cfg = load_run_config(path)
    bundle = build_bundle(cfg.dataset, data_root, progress=progress)
    results = run_chain(bundle, out, cfg, progress=progress)
    notes = "\n".join(f"note: {n}" for n in bundle.notes)
    return f"{notes}\n{summary_table(results)}\n\nresults: {Path(out) / 'results.nc'}"


# -- single-stage commands -------------------------------------------------------------------------------
def fuse_command(method: str, case_path, out, config_file=None, checkpoint=None, device="cpu", train_period=None, period=None,
                 chunk: bool = False, scheduler: str = "threads", chunk_days: int = 32) -> None:
    from .scale import open_case_lazy, use_scheduler

    with use_scheduler(scheduler):
        case = open_case_lazy(case_path, chunk_days) if chunk else open_case(case_path)
        _fuse(method, case, case_path, out, config_file, checkpoint, device, train_period, period, chunk, chunk_days)


def _fuse(method, case, case_path, out, config_file, checkpoint, device, train_period, period, chunk, chunk_days) -> None:
    overrides: dict = {}
    if config_file:
        cname, overrides = load_method_config(config_file)
        if cname != method:
            raise ConfigError(f"config {config_file} is for method '{cname}', not '{method}'")
    from .methods import method_class

    fields = set(method_class(method).Config.__dataclass_fields__)
    if "device" in fields:
        overrides["device"] = device
    if checkpoint:
        if method != "drcgan":
            raise ConfigError("--checkpoint is only for --method drcgan")
        overrides["checkpoint"] = str(checkpoint)
    dtrain, dtest = default_periods(case)
    train = tuple(train_period) if train_period else dtrain
    test = tuple(period) if period else (str(case.indexes["time"][0].date()), str(case.indexes["time"][-1].date()))
    provenance = {"case": str(case_path), "train_period": "/".join(train)}
    if chunk:
        from .archive import fuse_chunked

        m = make_method(method, overrides)
        m.fit(case, train, progress=True) if method == "drcgan" else m.fit(case, train)
        fuse_chunked(m, case, Path(out), test, provenance, progress=True, chunk_days=chunk_days)
        return
    prod, info = fit_predict(method, case, train, test, overrides, progress=True)
    save_product(prod, Path(out), {**provenance, **info})


def train_command(case_path, config_file, out, device="cpu", train_period=None) -> None:
    from .fusion import get_config, save_checkpoint
    from .fusion.train import Trainer

    case = open_case(case_path)
    cfg = get_config(config_file)
    train = tuple(train_period) if train_period else default_periods(case)[0]
    trainer = Trainer(cfg, case, train, device).fit(progress=True)
    save_checkpoint(trainer, out, meta={"case": str(case_path)})


def score_command(case_path, products, insitu, out, scheduler: str = "threads", chunk_days: int = 32) -> xr.Dataset:
    """Score product files (dask-backed, block by block); files of one method are joined in time."""
    from .scale import open_case_lazy, open_product_lazy, use_scheduler

    with use_scheduler(scheduler):
        case = open_case_lazy(case_path, chunk_days)
        by_method: dict[str, list[Path]] = {}
        for p in products:
            ds = open_netcdf(p, "product file")
            if "sm" not in ds:
                raise InputError(p, "variable missing", "sm")
            by_method.setdefault(ds["sm"].attrs.get("method", Path(p).stem), []).append(Path(p))
            ds.close()
        prods = {name: open_product_lazy(sorted(files), chunk_days) for name, files in by_method.items()}
        return _score(case, case_path, prods, insitu, out)


def _score(case, case_path, prods, insitu, out) -> xr.Dataset:
    parts = []
    test = case.sel(time=prods[next(iter(prods))].indexes["time"]) if prods else case
    if insitu:
        coll = read_ismn(insitu)
        parts.append(score_insitu(prods, test, match_stations(coll, test)))
    if "truth" in case:
        parts.append(score_fields(prods, test, test["truth"], "truth"))
    res = combine(parts, {"case": str(case_path)})
    save_results(res, out)
    return res
