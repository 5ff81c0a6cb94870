"""The full chain, usable from Python and behind the CLI: case -> every method (fit on the training
period, predict the test period) -> scores (in-situ, gap-aware, truth, simulated gaps) -> report.

Nothing here names a method or a metric: methods come from the registry in their declared order and
say what they are (``kind``); scoring is one call of :func:`stsg_bench.validation.evaluate` with the
references given as data.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xarray as xr

from .. import kernels, resources
from ..cards import (
    Card,
    CaseBundle,
    ExternalSource,
    build_bundle,
    bundle_from_case,
    card_inputs,
    default_data_root,
    external_from_toml,
    load_card,
    period_from_toml,
    validation_attrs,
)
from ..case import save_case, select_period
from ..configs import located, typed_values
from ..errors import ConfigError, InputError, StsgError
from ..files import atomic_directory, guard_output, output_lock, read_toml
from ..io.external import import_external
from ..io.lazy import save_product
from ..methods import default_methods, get_method, list_methods, method_class
from ..provenance import case_fingerprint, relative_name, software, to_attr
from ..validation import (
    FieldReference,
    SimGapConfig,
    ValidationConfig,
    hide_smap,
    save_results,
)
from ..validation.evaluate import check_tc_partner
from .produce import Period, default_periods, produce, score_products

log = logging.getLogger(__name__)


@dataclass
class RunConfig:
    """What ``stsg-bench run CONFIG.toml`` reads (all optional except ``dataset``)."""

    dataset: str = "twin-small"
    methods: list[str] | None = None  # default: every registered method
    method_config: dict[str, dict] = field(default_factory=dict)  # per-method overrides
    train_period: Period | None = field(default=None, metadata={"from_toml": period_from_toml})
    test_period: Period | None = field(default=None, metadata={"from_toml": period_from_toml})
    simulated_gaps: bool = True
    simgap_fraction: float = 0.2
    min_obs: int | None = None  # default: the card's [ismn] min_obs (20)
    bootstrap: int = 0
    depth: tuple[float, float] | None = None  # default: the card's [ismn] depth or 0-0.10 m
    report: bool = True
    seeds: int | None = None  # models per method that has seeds (DrcGAN and its ablations); None: the config's
    kernels: str | None = None  # CPU kernels: 'reproducible' pins them (the gate's); None: the command line's
    #: external products to import and score beside the methods (in addition to the card's)
    external: list[ExternalSource] = field(
        default_factory=list, metadata={"from_toml": lambda v, where: list(external_from_toml(v, where))}
    )
    path: Path | None = None  # the run config file (relative external paths start from its folder)

    def validation(self, card: Card) -> ValidationConfig:
        """The card's matching settings with this run's overrides."""
        return card.validation.replace(depth=self.depth, min_obs=self.min_obs, bootstrap=self.bootstrap or None)


def product_file(name: str) -> str:
    """A product's file name in ``products/`` (``drcgan:paper`` -> ``drcgan.paper.nc``)."""
    return name.replace(":", ".") + ".nc"


def run_chain(
    bundle: CaseBundle, out: str | Path, cfg: RunConfig, progress: bool = False, stages: dict | None = None
) -> xr.Dataset:
    """Fit/predict every method, score, write ``out/results.nc``, ``out/products/`` and the report.
    ``stages`` (optional) receives the wall-clock seconds of each stage (also in the results'
    ``stage_seconds`` attribute, except the report's, which comes after)."""
    stages = {} if stages is None else stages
    out = Path(out)
    case = bundle.case
    names = cfg.methods or default_methods()
    if cfg.seeds is not None:  # --seeds N: every method with a 'seeds' option, unless its config says
        for n in names:
            if "seeds" in {f.name for f in dataclasses.fields(method_class(n).Config)}:
                cfg.method_config[n] = {"seeds": cfg.seeds, **cfg.method_config.get(n, {})}
    methods = [get_method(n, **cfg.method_config.get(n, {})) for n in names]  # fail fast on unknown names / keys
    vcfg = cfg.validation(bundle.card)
    known = [*list_methods(), *(e.name for e, _ in bundle.external)]  # a partner not run is a note, a typo an error
    check_tc_partner(vcfg, known, f"{bundle.card.path} [ismn]")
    case.attrs.update(validation_attrs(vcfg))  # the case file written beside the results scores the same way
    train, test = cfg.train_period, cfg.test_period
    if train is None or test is None:
        dtrain, dtest = default_periods(case, bundle.card)
        train, test = train or dtrain, test or dtest
    log.info("training period %s, test period %s", train, test)
    fingerprint = case_fingerprint(case)
    products: dict[str, xr.DataArray] = {}
    infos: dict[str, dict] = {}
    curves: dict[str, Any] = {}
    (out / "products").mkdir(parents=True, exist_ok=True)
    external = _import_external(bundle, test, names)  # before any training: a bad file fails fast
    # simulated gaps hide SMAP in the test period only, so the training period is the case's own: each
    # method is fitted once and predicts both the case and the thinned case
    tick = time.perf_counter()
    thin, hidden = hide_smap(case, SimGapConfig(fraction=cfg.simgap_fraction), period=test)
    stages["simulated-gap mask"] = round(time.perf_counter() - tick, 2)
    sim: dict[str, xr.DataArray] = {}
    tick = time.perf_counter()
    for made in produce(methods, case, train, test, given=products, progress=progress):
        name, prod, info, m = made.name, made.product, made.info, made.method
        stages[f"fit+predict {name}"] = round(info["fit_seconds"] + info["predict_seconds"], 2)
        provenance = {"case": bundle.card.name, "train_period": "/".join(train), **info}
        products[name] = prod
        infos[name] = info
        save_product(prod, out / "products" / product_file(name), provenance, m.ancillary(), case=case)
        for extra, p in m.companions().items():
            products[extra] = p
            infos[extra] = {"companion_of": name}
            save_product(p, out / "products" / product_file(extra), {**provenance, "companion_of": name}, case=case)
        if hasattr(m, "curves"):
            curves[name] = m.curves()
        if cfg.simulated_gaps and m.kind != "observation":  # SMAP alone has nothing to fill with
            t_sim = time.perf_counter()
            m.given_products(sim, thin)
            sim[name] = m.predict(thin, test)
            stages[f"simulated gaps {name}"] = round(time.perf_counter() - t_sim, 2)
    for name, prod in external.items():
        products[name] = prod
        infos[name] = {"external": prod.attrs["source_file"]}
        save_product(
            prod,
            out / "products" / product_file(name),
            {"case": bundle.card.name, "source": prod.attrs["source_file"]},
            case=case,
        )
    stages["methods, simulated gaps and product files"] = round(time.perf_counter() - tick, 2)
    tick = time.perf_counter()
    test_case = select_period(case, test)
    run_refs: list[FieldReference] = []  # the run's own references beside the standard ones
    if cfg.simulated_gaps:
        mask = hidden.sel(time=slice(*test))
        run_refs.append(FieldReference("hidden_smap", test_case["smap"], mask=mask, splits=("all",), products=sim))
    ev = score_products(products, test_case, bundle.insitu, vcfg, run_refs)
    if ev is None:
        raise StsgError("nothing was scored: no truth, no stations and no simulated gaps")
    stages["scoring"] = round(time.perf_counter() - tick, 2)
    bundle.notes.extend(ev.notes)
    results = ev.results
    results.attrs.update(
        {
            "case": bundle.card.name,
            "train_period": "/".join(train),
            "test_period": "/".join(test),
            "methods": json.dumps(infos),
            "training_curves": json.dumps(curves),
            "products": json.dumps({n: f"products/{product_file(n)}" for n in products}),
            "notes": json.dumps(bundle.notes),
            "smap_quality_rule": str(case.attrs.get("smap_quality_rule", "")),
            "case_fingerprint": fingerprint,
            "stage_seconds": json.dumps(stages),
            "citations": to_attr(bundle.provenance.get("citations", {})),
            "provenance": to_attr(
                {
                    **bundle.provenance,
                    "software": software(),
                    "case_fingerprint": fingerprint,
                    "run_config": run_config_record(cfg),
                    "method_configs": {n: p.attrs.get("method_config", "") for n, p in products.items()},
                }
            ),
        }
    )
    tick = time.perf_counter()
    save_results(results, out / "results.nc")
    stages["results file"] = round(time.perf_counter() - tick, 2)
    if cfg.report:
        from ..reports import write_report

        tick = time.perf_counter()
        save_case(case, out / "case.nc")
        write_report(out / "results.nc", out / "report", case_path=out / "case.nc")
        stages["case file and report"] = round(time.perf_counter() - tick, 2)
    log.info("stage seconds: %s", json.dumps(stages))
    return results


def _import_external(bundle: CaseBundle, test: Period, names: list[str]) -> dict[str, xr.DataArray]:
    """The bundle's external products on the case's cells, cut to the test period."""
    out = {}
    for src, path in bundle.external:
        if src.name in names:
            raise ConfigError(f"external product '{src.name}' has the name of a method in this run: rename it")
        if src.name in out:
            raise ConfigError(f"external product name '{src.name}' given twice (card and run config?)")
        ext = import_external(path, bundle.case, src.name, src.variable, src.layer_depth)
        bundle.notes.extend(ext.notes)
        out[src.name] = ext.sm.sel(time=slice(*test))
    return out


def summary_table(results: xr.Dataset) -> str:
    """One screen: pooled in-situ scores per method plus gap RMSE against truth / hidden SMAP."""
    from ..reports.tables import summary_frame

    return summary_frame(results).to_string(float_format=lambda v: f"{v:.4f}")


def run_demo(
    out: str | Path = "demo_out",
    preset: str = "realistic",
    seed: int = 0,
    methods: list[str] | None = None,
    progress: bool = False,
    overwrite: bool = False,
    seeds: int | None = None,
) -> str:
    """The main job: synthetic twin -> all methods -> scores -> report. Returns the summary text.

    ``out`` is built beside its target and swapped in when complete; an existing ``out`` is replaced
    only with ``overwrite``."""
    from ..twin import generate_twin, write_twin

    out = guard_output(out, overwrite=overwrite, folder=True)
    t0 = time.perf_counter()
    stages: dict[str, float] = {}
    with output_lock(out), atomic_directory(out) as tmp:
        twin = generate_twin(preset, seed=seed, progress=progress)
        write_twin(twin, tmp / "twin")
        stages["twin"] = round(time.perf_counter() - t0, 2)
        card = Card(name=f"twin-{preset}", kind="twin", path=Path("<demo>"), preset=preset, seed=seed)
        bundle = CaseBundle(twin.case, card, twin.stations)
        results = run_chain(bundle, tmp, RunConfig(methods=methods, seeds=seeds), progress=progress, stages=stages)
    elapsed = time.perf_counter() - t0
    big = [k for k in stages if not k.startswith(("fit+predict ", "simulated gaps "))]
    return (
        f"stsg-bench demo (twin '{preset}', seed {seed}) finished in {elapsed:.0f} s ("
        + ", ".join(f"{k} {stages[k]:.0f} s" for k in big)
        + ")\n"
        + summary_table(results)
        + f"\n\nresults: {out / 'results.nc'}\nreport:  {out / 'report' / 'index.html'}"
    )


#: run-config keys that say *what is measured* (the case, periods, references, matching): results
#: of two runs are comparable by the gate only if these agree; methods and their settings may differ (a
#: degraded method must fail the gate, not be refused)
PROTOCOL_KEYS = (
    "dataset",
    "train_period",
    "test_period",
    "simulated_gaps",
    "simgap_fraction",
    "min_obs",
    "bootstrap",
    "depth",
    "external",
)


def run_config_record(cfg: RunConfig) -> dict:
    """The run config as data for provenance: its file by relative name and SHA-256, every setting, and
    ``protocol_sha256`` over :data:`PROTOCOL_KEYS`, which ``check`` compares with the reference's."""
    record = dataclasses.asdict(dataclasses.replace(cfg, path=None))
    if Path(cfg.dataset).suffix == ".toml":
        record["dataset"] = Path(cfg.dataset).stem
    protocol = json.dumps({k: record[k] for k in PROTOCOL_KEYS}, sort_keys=True, default=str)
    record["protocol_sha256"] = hashlib.sha256(protocol.encode()).hexdigest()
    if cfg.path is not None:
        record["path"] = relative_name(cfg.path)
        record["sha256"] = hashlib.sha256(Path(cfg.path).read_bytes()).hexdigest()
    return record


def load_run_config(path: str | Path) -> RunConfig:
    """A run config TOML, a dataset card (run with the defaults), a bare card name, or ``gate`` (the
    packaged accuracy-gate run config, :mod:`stsg_bench.resources`)."""
    path = Path(path)
    if path.suffix != ".toml":
        if str(path) == "gate" and resources.find("datasets", path) is None:
            path = resources.folder("reference") / "gate.toml"
        else:
            return RunConfig(dataset=str(path))  # a bare card name
    data = read_toml(path, "run config")
    if data.get("kind") in ("twin", "files"):  # a dataset card itself
        return RunConfig(dataset=str(path))
    return parse_run_config(data, path)


#: run-config values beyond their types: (test, what is expected)
_RUN_RANGES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "simgap_fraction": (lambda v: 0 < v <= 1, "a fraction in (0, 1]"),
    "min_obs": (lambda v: v >= 1, "a whole number >= 1"),
    "bootstrap": (lambda v: v >= 0, "a whole number >= 0"),
    "seeds": (lambda v: v >= 1, "a whole number >= 1"),
    "depth": (lambda v: 0 <= v[0] <= v[1], "[from, to] in metres, 0 <= from <= to"),
    "kernels": (lambda v: v in kernels.MODES, f"one of {', '.join(kernels.MODES)}"),
}


def parse_run_config(data: dict[str, Any], path: Path) -> RunConfig:
    """A run config from its TOML table: types from :class:`RunConfig`'s fields (the typed config layer),
    then periods, external products and value ranges; one-line errors naming the file and key."""
    try:
        if "path" in data:
            raise ConfigError("run config: unknown key 'path'")
        kw = typed_values(RunConfig, data, "run config")
    except ConfigError as err:
        key, problem = located(err, "run config")
        raise InputError(path, problem, key or "path") from None
    for key, (ok, expected) in _RUN_RANGES.items():
        if kw.get(key) is not None and not ok(kw[key]):
            raise InputError(path, f"expected {expected}, got {data[key]!r}", key)
    return RunConfig(**kw, path=path)


def _external_path(src: ExternalSource, cfg: RunConfig, data_root) -> Path:
    """A run config's external product path: absolute, else relative to the config's folder, else to
    the data root."""
    p = Path(src.path)
    candidates = [p] if p.is_absolute() else []
    if not p.is_absolute():
        if cfg.path is not None:
            candidates.append(cfg.path.parent / p)
        root = default_data_root(data_root)
        if root is not None:
            candidates.append(root / p)
    for c in candidates:
        if c.exists():
            return c
    raise InputError(
        cfg.path,
        f"external product '{src.name}': {src.path} not found (looked in: {', '.join(map(str, candidates))})",
        "external.path",
    )


def run_config(
    path: str | Path,
    out: str | Path,
    data_root=None,
    progress: bool = False,
    overwrite: bool = False,
    seeds: int | None = None,
    case: str | Path | None = None,
) -> str:
    """``stsg-bench run``: the chain on a run config or dataset card, built into ``out`` atomically;
    ``case``: the card's case already built (a file or a ``case --chunk-days`` folder) instead of building
    it again."""
    cfg = load_run_config(path)
    cfg.seeds = seeds if seeds is not None else cfg.seeds
    kernels.configure(cfg.kernels)  # before any torch work: the bits of every learned method depend on it
    card = load_card(cfg.dataset)
    known = [*list_methods(), *(e.name for e in (*card.external, *cfg.external))]
    check_tc_partner(cfg.validation(card), known, f"{card.path} [ismn]")  # before the case is built
    external = [(e, _external_path(e, cfg, data_root)) for e in cfg.external]
    inputs = [cfg.path, case, *card_inputs(card, data_root)]
    out = guard_output(out, inputs + [p for _, p in external], overwrite=overwrite, folder=True)
    with output_lock(out), atomic_directory(out) as tmp:
        bundle = (
            build_bundle(card, data_root, progress=progress)
            if case is None
            else bundle_from_case(card, case, data_root)
        )
        bundle.external += external
        results = run_chain(bundle, tmp, cfg, progress=progress)
    notes = "\n".join(f"note: {n}" for n in bundle.notes)
    return f"{notes}\n{summary_table(results)}\n\nresults: {Path(out) / 'results.nc'}"
