"""Comparisons that hold up, from the per-station series in a results file: the station-level headline
beside the pooled scores, paired differences with a bootstrap over cells (or blocks of days), and the
scorecard's significance marks.

Stations in one EASE2 36 km cell are one cluster (they see the same product values); the bootstrap
resamples clusters when there are at least :data:`~stsg_bench.validation.paired.MIN_CLUSTERS` of them,
else blocks of days (:mod:`stsg_bench.validation.paired`). The common samples are the station-days where
every *filled* product (methods and models, not SMAP alone, not external products, not ensemble
members) and the in-situ reference have a value; SMAP alone and external products are compared pairwise
on their own overlap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from ..grid import lonlat_to_rowcol_or_minus1
from ..validation.evaluate import SAME_SUFFIX
from ..validation.paired import (
    MIN_DAYS,
    PAIRED_METRICS,
    bootstrap_statistic,
    paired_bootstrap,
    per_station,
    statistic,
)
from .scorecard import split_base
from .tables import members, product_label

#: metrics of the headline and paired tables
HEADLINE_METRICS = ("R", "ubRMSE", "bias")
#: the trivial baselines a method must beat (the paired table's default reference: the best of them)
TRIVIAL = ("persistence", "temporal_mean", "ensemble")


@dataclass
class StationData:
    """Per-station series of the whole period: products (method x station x day), in-situ, clusters."""

    names: list[str]
    kinds: dict[str, str]
    members: set[str]  # seed-ensemble members (summarised in the seeds table, not compared)
    product: np.ndarray
    insitu: np.ndarray
    clusters: np.ndarray

    def series(self, name: str) -> np.ndarray:
        return self.product[self.names.index(name)].astype(np.float64)

    @property
    def filled(self) -> list[str]:
        return [n for n in self.names if self.kinds.get(n) in ("gap_filler", "model") and n not in self.members]

    def common(self) -> np.ndarray:
        """Station-days every filled product and the in-situ reference have."""
        mask = np.isfinite(self.insitu)
        for n in self.filled:
            mask &= np.isfinite(self.series(n))
        return mask


def station_data(res: xr.Dataset) -> StationData | None:
    """The per-station series of ``res`` (None when the results do not store them)."""
    if "product_series" not in res or "insitu_series" not in res or res.sizes.get("station", 0) == 0:
        return None
    names = [str(m) for m in res["product"].values]
    kinds_coord = res.coords.get("method_kind")
    kinds = dict(zip(names, [str(k) for k in kinds_coord.values], strict=True)) if kinds_coord is not None else {}
    rows, cols = lonlat_to_rowcol_or_minus1(res["station_lon"].values, res["station_lat"].values)
    clusters = np.array([f"{r}/{c}" for r, c in zip(rows, cols, strict=True)])
    return StationData(
        names, kinds, set(members(res)), res["product_series"].values, res["insitu_series"].values, clusters
    )


def headline_table(res: xr.Dataset, n_boot: int = 500) -> tuple[pd.DataFrame, str] | None:
    """Pooled and station-level (mean, median over stations) R, ubRMSE, |bias| of the filled products on
    their common station-days, with bootstrap CIs of the station mean, and a sentence when the pooled
    and station-level rankings disagree. None without per-station series."""
    data = station_data(res)
    if data is None or not data.filled:
        return None
    mask = data.common()
    used = mask.sum(axis=1) >= MIN_DAYS
    if not used.any():
        return None
    rows = {}
    best: dict[tuple[str, str], tuple[str, float]] = {}  # (metric, pooled | station mean) -> (product, value)
    for name in data.filled:
        a = np.where(mask, data.series(name), np.nan)
        row: dict[str, object] = {}
        for metric in HEADLINE_METRICS:
            pooled = statistic(a, data.insitu, mask, metric, "pooled")
            ci = bootstrap_statistic(a, data.insitu, data.clusters, metric, n_boot=n_boot)
            stations = per_station(a, data.insitu, mask, metric)
            label = "abs bias" if metric == "bias" else metric
            row[f"{label} pooled"] = f"{pooled:.4f}"
            row[f"{label} station mean [95% CI]"] = f"{ci[0]:.4f} [{ci[1]:.4f}, {ci[2]:.4f}]"
            row[f"{label} station median"] = f"{np.nanmedian(stations):.4f}"
            for how, v in (("pooled", pooled), ("station mean", ci[0])):
                if np.isfinite(v) and ((metric, how) not in best or _is_better(metric, v, best[metric, how][1])):
                    best[metric, how] = (product_label(res, name), v)
        rows[product_label(res, name)] = row
    df = pd.DataFrame.from_dict(rows, orient="index").rename_axis("product")
    n_st, n_cl, n = int(used.sum()), len(set(data.clusters[used])), int(mask[used].sum())
    words = []
    for metric in HEADLINE_METRICS:
        pooled_best, station_best = best.get((metric, "pooled")), best.get((metric, "station mean"))
        if pooled_best and station_best and pooled_best[0] != station_best[0]:
            label = "abs bias" if metric == "bias" else metric
            words.append(f"by {label} the best product is {pooled_best[0]} pooled but {station_best[0]} over stations")
    note = (
        "The pooled and station-level rankings disagree: " + "; ".join(words) + ". "
        "Pooled scores weight stations by their days and mix differences between sites into R; "
        "the station mean weights every station equally."
        if words
        else "The pooled and station-level rankings agree on the best product."
    )
    scheme = "cells" if n_cl >= 10 else "blocks of 10 days"
    caption = (
        f"{note} In-situ scores of the filled products on the {n:,} station-days all of them have "
        f"({n_st} stations in {n_cl} EASE2 cells): pooled over station-days, and the mean and median over "
        f"stations of each station's score; station-mean 95 % CI from a bootstrap over {scheme} ({n_boot} "
        "replicates)"
    )
    return df, caption


def _is_better(metric: str, value: float, than: float) -> bool:
    return value > than if metric == "R" else value < than


def reference_product(res: xr.Dataset, data: StationData) -> str | None:
    """The paired table's reference: the best trivial baseline (lowest station-mean ubRMSE), else the
    first filled product."""
    mask = data.common()
    cands = [n for n in TRIVIAL if n in data.names]
    if not cands:
        return data.filled[0] if data.filled else None
    scores = {}
    for n in cands:
        scores[n] = statistic(np.where(mask, data.series(n), np.nan), data.insitu, mask, "ubRMSE", "station_mean")
    return min(cands, key=lambda n: scores[n] if np.isfinite(scores[n]) else np.inf)


def paired_table(res: xr.Dataset, base: str | None = None, n_boot: int = 1000) -> tuple[pd.DataFrame, str, str] | None:
    """Every product against ``base`` (default: the best trivial baseline) on the station-days both have:
    station-mean Δ (product − base) of R, ubRMSE and |bias| with 95 % CI and p-value."""
    data = station_data(res)
    if data is None:
        return None
    base = base or reference_product(res, data)
    if base is None or base not in data.names:
        return None
    b = data.series(base)
    rows = {}
    schemes = set()
    for name in data.names:
        if name == base or name in data.members:
            continue
        row: dict[str, object] = {}
        for metric in HEADLINE_METRICS:
            r = paired_bootstrap(data.series(name), b, data.insitu, data.clusters, metric, n_boot=n_boot)
            label = "abs bias" if metric == "bias" else metric
            row[f"Δ{label} [95% CI]"] = (
                f"{r.delta:+.4f} [{r.ci_lower:+.4f}, {r.ci_upper:+.4f}]" if np.isfinite(r.delta) else "–"
            )
            row[f"p ({label})"] = f"{r.p_value:.3f}" if np.isfinite(r.p_value) else "–"
            schemes.add(r.scheme)
        row["stations"], row["cells"], row["n"] = r.n_stations, r.n_clusters, r.n_samples
        rows[product_label(res, name)] = row
    df = pd.DataFrame.from_dict(rows, orient="index").rename_axis("product")
    how = " / ".join(
        {"clusters": "EASE2 cells (clusters of stations)", "blocks": "blocks of 10 days (too few cells)"}.get(s, s)
        for s in sorted(schemes)
    )
    why = "the best trivial baseline by station-mean ubRMSE" if base in TRIVIAL else "the reference product"
    caption = (
        f"Paired comparison with {product_label(res, base)} ({why}): "
        f"Δ = product − {base} of the station-mean score on the station-days both products and the in-situ "
        f"reference have (n), 95 % CI and p-value from a paired bootstrap over {how}, {n_boot} replicates "
        "(positive ΔR and negative Δ|bias|, ΔubRMSE are better)"
    )
    return df, caption, base


def paired_marks(
    res: xr.Dataset, base: str, splits: list[str], metrics: list[str], n_boot: int = 400, gap_base: str | None = None
) -> pd.DataFrame | None:
    """Scorecard significance: paired bootstrap p < 0.05 of the pooled metric, per product, metric and
    split (``smap_valid`` / ``smap_gap``: days when SMAP alone has / has no value at the station), on the
    samples each product shares with ``base``. None without series; NaN where not testable."""
    data = station_data(res)
    if data is None or base not in data.names:
        return None
    smap = next((n for n in data.names if data.kinds.get(n) == "observation"), None)
    out: dict[str, list[float]] = {}
    member = members(res)
    names = [str(m) for m in res["product"].values if str(m) not in member]
    for sp in splits:
        this = split_base(res, sp, base, gap_base if gap_base in data.names else None)
        b = data.series(this)
        keep = np.ones_like(data.insitu, dtype=bool)
        if sp != "all":
            if smap is None:
                continue
            has = np.isfinite(data.series(smap))
            keep = has if sp == "smap_valid" else ~has
        for metric in metrics:
            col = f"{metric} ({sp})" if this == base else f"{metric} ({sp} vs {this})"
            if metric not in PAIRED_METRICS:
                continue
            vals = []
            for name in names:
                a = np.where(keep, data.series(name), np.nan)
                if name == this or not np.isfinite(a).any():
                    vals.append(np.nan)
                    continue
                r = paired_bootstrap(a, np.where(keep, b, np.nan), data.insitu, data.clusters, metric, "pooled", n_boot)
                vals.append(r.p_value)
            out[col] = vals
    return pd.DataFrame(out, index=pd.Index([product_label(res, n) for n in names], name="product"))


#: the gridded references a field paired table is drawn for: what they are, and the report table it follows
FIELD_REFERENCES = {
    "truth": ("the twin's truth", "truth"),
    "hidden_smap": ("SMAP values hidden before fusion", "simulated_gaps"),
}


def field_paired_table(res: xr.Dataset, reference: str = "truth") -> tuple[pd.DataFrame, str, str] | None:
    """Every product against the best trivial baseline (lowest same-sample RMSE on SMAP-gap days, else on
    all days) on a gridded reference: Δ = product − baseline of RMSE and R with 95 % CI and p-value, from
    the all-pairs paired bootstrap stored in the results (``paired_*``, blocks of days). None when the
    results hold none for ``reference``."""
    ref = f"{reference}{SAME_SUFFIX}"
    if "paired_delta" not in res or ref not in res["reference"].values:
        return None
    sub = res.sel(reference=ref)
    if "window" in sub.dims:
        sub = sub.sel(window="all")
    delta = sub["paired_delta"]
    splits = [s for s in ("all", "smap_gap") if s in sub["split"].values and bool(delta.sel(split=s).notnull().any())]
    if not splits:
        return None
    member = members(res)
    names = [str(m) for m in res["product"].values if str(m) not in member]
    rank_split = "smap_gap" if "smap_gap" in splits else "all"
    rmse = sub["value"].sel(group="pooled", split=rank_split, metric="RMSE")
    cands = [n for n in TRIVIAL if n in names and np.isfinite(float(rmse.sel(product=n)))]
    base = min(cands, key=lambda n: float(rmse.sel(product=n))) if cands else None
    if base is None:
        return None
    rows: dict[str, dict[str, object]] = {}
    for name in names:
        if name == base:
            continue
        row: dict[str, object] = {}
        for sp in splits:
            for metric in ("RMSE", "R"):
                pick = {"product": name, "versus": base, "split": sp, "metric": metric}
                d = float(delta.sel(pick))
                lo, hi = float(sub["paired_ci_lower"].sel(pick)), float(sub["paired_ci_upper"].sel(pick))
                p = float(sub["paired_p"].sel(pick))
                row[f"Δ{metric} {sp} [95% CI]"] = f"{d:+.4f} [{lo:+.4f}, {hi:+.4f}]" if np.isfinite(lo) else "–"
                row[f"p ({metric} {sp})"] = f"{p:.3f}" if np.isfinite(p) else "–"
        rows[product_label(res, name)] = row
    if not rows:
        return None
    df = pd.DataFrame.from_dict(rows, orient="index").rename_axis("product")
    n = {sp: int(sub["n"].sel(product=base, group="pooled", split=sp)) for sp in splits}
    block = f"{int(sub['paired_block_days'])}-day" if "paired_block_days" in sub else "multi-day"
    what = FIELD_REFERENCES.get(reference, (reference,))[0]
    caption = (
        f"Paired comparison against {what} with {product_label(res, base)}, "
        f"the best trivial baseline by {rank_split} RMSE: Δ = product − {base} on the pixel-days both have "
        f"(n {', '.join(f'{sp} {k:,}' for sp, k in n.items())}), 95 % CI and p-value from a paired bootstrap of "
        f"circular {block} blocks of days, the same days for both products (negative ΔRMSE and positive ΔR "
        "are better)"
    )
    return df, caption, base
