"""The one evaluation loop: products x references x metrics x groups x splits -> the results cube.

Every workflow (``demo``, ``run``, ``score``, ``scale``) describes *what* to score as data and calls
:func:`evaluate`::

    refs = [InsituReference(ismn_folder), FieldReference("truth", case["truth"])]
    ev = evaluate(products, case, refs, ValidationConfig(depth=(0.0, 0.2)))
    ev.results   # value / ci_lower / ci_upper (method, reference, group, split, metric) and n
    ev.notes     # what was noticed: unreadable ISMN files, stations not scored and why

A reference is anything with a ``name`` and a ``score(products, case, cfg) -> (Dataset, notes)``; the
in-situ stations and gridded fields (the twin's truth, hidden SMAP) are the two kinds here. A reference
may carry its own ``products`` (the simulated-gaps experiment scores products fused from a thinned case).
How stations are matched (depth, flags, hours, min_obs) comes from one typed :class:`ValidationConfig`,
built from a dataset card's ``[ismn]`` section, a run config or command-line options.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
import xarray as xr

from ..configs import convert, load
from ..errors import ConfigError, StsgError
from ..io.ismn import StationSeries, read_ismn
from .match import OK, MatchConfig, match_stations
from .metrics import get_metrics
from .score import GAP_AGE_SPLITS, SPLITS, ScoreConfig, combine, score_fields, score_insitu
from .windows import Window, build_windows


def _windows_from_toml(value: Any, where: str) -> tuple[tuple[str, str, str], ...]:
    """``windows = {name = ["YYYY-MM-DD", "YYYY-MM-DD"], ...}`` (a TOML table) as (name, start, end)."""
    table = convert(dict[str, tuple[str, str]], value, where)
    return tuple((name, start, end) for name, (start, end) in table.items())


@dataclass(frozen=True)
class ValidationConfig:
    """How products are matched to stations and scored."""

    depth: tuple[float, float] = (0.0, 0.10)  # sensor depth range, m (QA4SM's default)
    flags: tuple[str, ...] = ("G",)  # ISMN quality flags kept
    min_hours: int = 12  # good hourly values for a daily mean
    min_obs: int = 20  # matched days for per-station scores
    bootstrap: int = 0  # > 0: percentile bootstrap CIs for the pooled in-situ group
    alpha: float = 0.05  # 1 - confidence level
    metrics: tuple[str, ...] | None = None  # default: every registered metric
    #: also score every reference on the samples all products share (reference ``NAME_same``)
    same_sample: bool = True
    #: score the meteorological seasons (DJF, MAM, JJA, SON) as windows beside ``all``
    seasons: bool = True
    #: user windows ``(name, start, end)`` (inclusive YYYY-MM-DD dates), scored beside the seasons
    windows: tuple[tuple[str, str, str], ...] = field(default=(), metadata={"from_toml": _windows_from_toml})
    #: ISMN networks whose stations are scored (empty: every network)
    networks: tuple[str, ...] = ()
    #: the third product of the triple collocation (in-situ, product, partner); '' for none
    tc_partner: str = "noah_raw"
    tc_bootstrap: int = 1000  # bootstrap resamples for the triple-collocation intervals
    #: gridded references (truth, simulated gaps): paired bootstrap replicates of every product pair on
    #: the same samples (0: none); in-situ pairs are compared by the report from the stored series
    paired_bootstrap: int = 1000

    def __post_init__(self) -> None:
        lo, hi = self.depth
        if not 0.0 <= lo <= hi:
            raise ConfigError(f"depth range {self.depth}: need 0 <= from <= to (m)")
        if self.min_obs < 1 or self.min_hours < 1 or self.bootstrap < 0 or self.tc_bootstrap < 0:
            raise ConfigError("min_obs and min_hours must be >= 1, bootstrap and tc_bootstrap >= 0")
        if not 0.0 < self.alpha < 1.0:
            raise ConfigError(f"alpha {self.alpha}: must be in (0, 1)")
        if not self.flags:
            raise ConfigError("flags: at least one ISMN quality flag must be kept")
        get_metrics(list(self.metrics) if self.metrics is not None else None)  # unknown names -> error
        self.window_list()  # bad names or dates -> error

    def window_list(self) -> list[Window]:
        """The temporal windows scored: ``all``, the seasons, the user windows."""
        return build_windows(self.seasons, self.windows)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], where: str = "validation settings") -> ValidationConfig:
        """Build from a TOML table (e.g. a card's ``[ismn]``); keys that are not settings are ignored
        only when they describe the data (``path``, ``format``, ``networks``), any other is an error."""
        return load(cls, values, where, ignore={"path", "format"})

    def replace(self, **changes: Any) -> ValidationConfig:
        """A copy with the given settings changed (``None`` values are ignored: 'not given')."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def match_config(self) -> MatchConfig:
        return MatchConfig(
            flags=self.flags, depth=self.depth, min_hours=self.min_hours, min_obs=self.min_obs, networks=self.networks
        )

    def score_config(self) -> ScoreConfig:
        return ScoreConfig(
            metrics=list(self.metrics) if self.metrics else None,
            alpha=self.alpha,
            min_obs=self.min_obs,
            bootstrap=self.bootstrap,
            windows=self.window_list(),
            tc_partner=self.tc_partner or None,
            tc_bootstrap=self.tc_bootstrap,
        )


class Reference(Protocol):
    """Something products are scored against."""

    name: str
    products: Mapping[str, xr.DataArray] | None

    def score(
        self, products: Mapping[str, xr.DataArray], case: xr.Dataset, cfg: ValidationConfig, paired: bool = False
    ) -> tuple[xr.Dataset, list[str]]:
        """Scores of ``products`` against this reference (``paired``: the products are on the same samples,
        a reference that can compares every pair too) and notes."""
        ...


@dataclass
class InsituReference:
    """ISMN stations: a folder or zip download, or station series already in memory (the twin)."""

    source: str | Path | Sequence[StationSeries]
    name: str = "insitu"
    products: Mapping[str, xr.DataArray] | None = None
    _sensors: Any = field(default=None, init=False, repr=False, compare=False)  # read once, scored twice

    def score(self, products, case, cfg, paired: bool = False):
        """Scores against the stations (the report compares pairs from the stored series)."""
        notes: list[str] = []
        if self._sensors is None and isinstance(self.source, (str, Path)):
            coll = read_ismn(self.source)
            notes += [f"ISMN: {p}" for p in coll.problems]
            self._sensors = coll
        elif self._sensors is None and not isinstance(self.source, (str, Path)):
            self._sensors = list(self.source)
        table = match_stations(self._sensors, case, cfg.match_config())
        notes += [f"station {key}: {status}" for key, status in table.dropped]
        notes += [f"station {key}: {status}" for key, status in zip(table.keys, table.status) if status != OK]
        return score_insitu(dict(products), case, table, cfg.score_config(), self.name), notes


@dataclass
class FieldReference:
    """A gridded reference on the case's grid (the twin's truth, hidden SMAP values), scored over land
    pixels where ``mask`` (default: everywhere)."""

    name: str
    field: xr.DataArray
    mask: xr.DataArray | None = None
    splits: tuple[str, ...] | None = None  # default: all, smap_valid, smap_gap
    products: Mapping[str, xr.DataArray] | None = None

    def score(self, products, case, cfg, paired: bool = False):
        """Scores against the field; ``paired``: also every product pair (on same-sample products)."""
        score_cfg = cfg.score_config()
        if paired:
            score_cfg = dataclasses.replace(score_cfg, paired_bootstrap=cfg.paired_bootstrap)
        return score_fields(
            dict(products), case, self.field, self.name, mask=self.mask, cfg=score_cfg, splits=self.splits
        ), []


@dataclass
class Evaluation:
    results: xr.Dataset
    notes: list[str] = field(default_factory=list)


def standard_references(case: xr.Dataset, insitu: str | Path | Sequence[StationSeries] | None) -> list[Reference]:
    """The references every workflow scores against when they exist: the stations and the twin's truth
    (also by gap-age bins when the case is in memory)."""
    refs: list[Reference] = []
    if isinstance(insitu, (str, Path)) or insitu:  # a download, or a non-empty list of station series
        refs.append(InsituReference(insitu))
    if "truth" in case:  # in memory: also by gap age (the age field needs the whole SMAP series)
        splits = SPLITS + GAP_AGE_SPLITS if case["smap"].chunks is None else SPLITS
        refs.append(FieldReference("truth", case["truth"], splits=splits))
    return refs


SAME_SUFFIX = "_same"


def same_sample(products: Mapping[str, xr.DataArray]) -> dict[str, xr.DataArray]:
    """The products on their shared days, each masked where any of the suite's gap-free products (every
    method's kind but ``observation``: SMAP alone is gappy by definition) has no value; lazy for
    dask-backed products.

    Scoring these compares the filled products on exactly the same samples, and in the ``smap_valid``
    split every product, SMAP included, on the same samples (the paper's "fused vs SMAP" comparison).
    External products (kind ``external``) do not define the common samples, a gappy one (ESA CCI
    COMBINED) would shrink everyone's: they are scored on their own share of them (their ``n``)."""
    times = None
    for p in products.values():
        t = p.indexes["time"]
        times = t if times is None else times.intersection(t)
    sub = {n: p.sel(time=times) for n, p in products.items()}
    filled = [n for n, p in sub.items() if p.attrs.get("method_kind") not in ("observation", "external")]
    filled = filled or [n for n, p in sub.items() if p.attrs.get("method_kind") != "observation"] or list(sub)
    ok = None
    for n in filled:
        ok = sub[n].notnull() if ok is None else ok & sub[n].notnull()
    return {n: p.where(ok).assign_attrs(p.attrs) for n, p in sub.items()}


def check_windows(cfg: ValidationConfig, case: xr.Dataset) -> None:
    """Refuse a user window that shares no day with the scored period (it would score n = 0 everywhere)."""
    if not cfg.windows or case.sizes.get("time", 0) == 0:
        return
    times = pd.DatetimeIndex(case["time"].values)
    for name, start, end in cfg.windows:
        if not ((times >= pd.Timestamp(start)) & (times <= pd.Timestamp(end))).any():
            raise ConfigError(
                f"window '{name}' ({start} .. {end}) shares no day with the scored period "
                f"{times[0].date()} .. {times[-1].date()}"
            )


def check_tc_partner(cfg: ValidationConfig, products: Sequence[str], where: str = "validation settings") -> None:
    """Refuse a triple-collocation partner that names none of ``products`` (the methods and external
    products a run knows): a typo would silently give no triple collocation."""
    if cfg.tc_partner and cfg.tc_partner not in products:
        raise ConfigError(
            f"{where}: tc_partner '{cfg.tc_partner}' names no method or external product "
            f"(known: {', '.join(products)}; '' for no triple collocation)"
        )


IDENTITY_KEYS = ("method_kind", "base_method", "product_mode", "seed_member", "ablation_of", "centrepiece")
#: long_name of each identity coordinate in a results file
IDENTITY_LONG_NAMES = {
    "method_kind": "kind of product (observation, model, gap_filler, fusion, ensemble, external)",
    "base_method": "registered method the product comes from",
    "product_mode": "product mode of the method (empty: its default product)",
    "seed_member": "seed member index of an ensemble-of-seeds method (-1: not a seed member)",
    "ablation_of": "method this product is an ablation of (empty: none)",
    "centrepiece": "1 for the suite's centrepiece method, else 0",
}


def _identity_attrs(key: str) -> dict[str, str]:
    attrs = {"long_name": IDENTITY_LONG_NAMES[key]}
    return {**attrs, "units": "1"} if key in ("seed_member", "centrepiece") else attrs


def product_identity(name: str, attrs: Mapping[str, Any]) -> dict[str, object]:
    """A product's identity from its attributes (the results cube's per-product coordinates)."""
    return {
        "method_kind": str(attrs.get("method_kind", "")),
        "base_method": str(attrs.get("base_method", name)),
        "product_mode": str(attrs.get("product_mode", "")),
        "seed_member": int(attrs.get("seed_member", -1)),
        "ablation_of": str(attrs.get("ablation_of", "")),
        "centrepiece": int(attrs.get("centrepiece", 0)),
    }


def to_record(cfg: ValidationConfig) -> dict[str, Any]:
    """The settings as a TOML-like table (what :meth:`ValidationConfig.from_mapping` reads back)."""
    rec = dataclasses.asdict(cfg)
    rec["depth"] = list(cfg.depth)
    rec["windows"] = {n: [a, b] for n, a, b in cfg.windows}
    if rec["metrics"] is None:
        del rec["metrics"]
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in rec.items()}


def evaluate(
    products: Mapping[str, xr.DataArray],
    case: xr.Dataset,
    references: Sequence[Reference],
    cfg: ValidationConfig | None = None,
    attrs: dict | None = None,
) -> Evaluation:
    """Score ``products`` (or each reference's own products) against every reference on the days of
    ``case``; one results cube with ``attrs`` and the notes gathered on the way."""
    cfg = cfg or ValidationConfig()
    check_windows(cfg, case)
    parts, notes = [], []
    if cfg.tc_partner and cfg.tc_partner not in products:
        notes.append(f"no triple collocation: its partner '{cfg.tc_partner}' is not among the scored products")
    for ref in references:
        prods = ref.products if ref.products is not None else products
        ds, ref_notes = ref.score(prods, case, cfg)
        parts.append(ds)
        notes += ref_notes
        if cfg.same_sample and len(prods) > 1:  # the same reference on the samples every product has
            same, _ = ref.score(same_sample(prods), case, cfg, paired=True)
            parts.append(same.assign_coords(reference=[f"{ref.name}{SAME_SUFFIX}"]))
    if references and all(int(p["n"].sum()) == 0 for p in parts):
        why = "; ".join(notes[:5]) + (f"; ... ({len(notes)} notes)" if len(notes) > 5 else "")
        raise StsgError(f"nothing could be scored: no product value matched any reference ({why or 'no matches'})")
    results = combine(parts, {"tc_partner": cfg.tc_partner, **(attrs or {})})
    # what each product is, from its attributes, so reports never parse names: the method's kind (or
    # 'external'), the method it comes from, DrcGAN's product mode, the seed member it is (-1: none), the
    # method it is an ablation of, and whether it is the suite's centrepiece
    identity: dict[str, dict[str, object]] = {}
    for prods in [products, *(r.products for r in references if r.products is not None)]:
        for name, p in prods.items():
            identity.setdefault(str(name), product_identity(str(name), p.attrs))
    names = [str(m) for m in results["product"].values]
    coords = {
        key: ("product", [identity.get(m, product_identity(m, {}))[key] for m in names], _identity_attrs(key))
        for key in IDENTITY_KEYS
    }
    described = {w.name: w.description for w in cfg.window_list()}
    coords["window_description"] = (
        "window",
        [described.get(str(w), "") for w in results["window"].values],
        {"long_name": "days each scoring window holds"},
    )
    return Evaluation(results.assign_coords(coords), notes)
