"""A WeatherBench2-style scorecard: every product's difference to one reference product, per metric and
split, on the samples all products share.

A cell is ``product - reference product`` (for a metric where 'better' is closer to 0 or 1, the
change of the distance to it), signed so that **positive means better than the reference product**,
coloured by sign and size. The reference product is SMAP alone where it has values (``smap_valid``); in
the ``all`` and ``smap_gap`` columns, whose samples SMAP alone does not have, the best trivial baseline
on gap days. ``*`` marks a significant difference:
by default the two 95 % confidence intervals (computed on the same samples) do not overlap; the report
replaces this by the paired bootstrap's p < 0.05 (:mod:`stsg_bench.reports.comparisons`).
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import xarray as xr

from ..validation.metrics import METRICS
from .tables import product_label, scored_reference, whole_period, without_members

#: the metrics and splits of the scorecard (those present in the results)
CARD_METRICS = ("bias", "R", "ubRMSE", "RMSE", "rho")
CARD_SPLITS = ("all", "smap_valid", "smap_gap")


def default_reference_product(res: xr.Dataset) -> str | None:
    """SMAP alone (the product of kind ``observation``) when scored, else the first product."""
    kinds = res.coords.get("method_kind")
    methods = [str(m) for m in res["product"].values]
    if kinds is not None:
        for m, k in zip(methods, kinds.values, strict=True):
            if k == "observation":
                return m
    return methods[0] if methods else None


def _gain(metric: str, new: np.ndarray, base: float) -> np.ndarray:
    """How much better ``new`` is than ``base`` (positive: better)."""
    better = METRICS[metric].better
    if better == "higher":
        return new - base
    if better == "lower":
        return base - new
    target = 1.0 if better == "one" else 0.0
    return np.abs(base - target) - np.abs(new - target)


#: gap-fillers the ``smap_gap`` columns are compared with by default (the best of them present)
GAP_BASELINES = ("persistence", "temporal_mean", "ensemble")


def gap_reference_product(res: xr.Dataset, reference: str = "insitu") -> str | None:
    """The best trivial baseline on SMAP-gap days (lowest pooled same-sample ubRMSE), or None."""
    sub = whole_period(res)
    if reference not in sub["reference"].values or "smap_gap" not in sub["split"].values:
        return None
    ref = scored_reference(sub, reference)
    scores = {}
    for m in GAP_BASELINES:
        if m in sub["product"].values:
            v = float(
                sub["value"].sel({"product": m}).sel(reference=ref, group="pooled", split="smap_gap", metric="ubRMSE")
            )
            if np.isfinite(v):
                scores[m] = v
    return min(scores, key=scores.__getitem__) if scores else None


def split_base(res: xr.Dataset, split: str, base: str, gap_base: str | None) -> str:
    """The product a scorecard column compares with, so that both are scored on the same samples: the
    reference product, except where it has no value of its own — SMAP alone (kind ``observation``) in
    the ``all`` and ``smap_gap`` splits, where the filled products' samples are not its — there the gap
    baseline ``gap_base`` (when scored)."""
    if gap_base is None or gap_base not in res["product"].values or split == "smap_valid":
        return base
    if split == "smap_gap":
        return gap_base
    kinds = (
        dict(zip((str(m) for m in res["product"].values), res["method_kind"].values))
        if "method_kind" in res.coords
        else {}
    )
    return gap_base if split == "all" and kinds.get(base) == "observation" else base


def scorecard(
    res: xr.Dataset, reference_product: str | None = None, reference: str = "insitu", gap_product: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, str] | None:
    """(gain, significant, reference product): gain and significance per product (rows) and
    ``metric (split)`` (columns); None when the results lack the reference or the product. Every column
    compares samples both products have (:func:`split_base`): against SMAP alone only where it has values
    (``smap_valid``); the ``all`` and ``smap_gap`` columns then compare with ``gap_product`` (default: the
    best trivial baseline on gap days), labelled ``metric (split vs NAME)``."""
    res = whole_period(without_members(res))
    if reference not in res["reference"].values:
        return None
    base = reference_product or default_reference_product(res)
    if base is None or base not in res["product"].values:
        return None
    ref = scored_reference(res, reference)
    sub = res.sel(reference=ref, group="pooled")
    metrics = [k for k in CARD_METRICS if k in res["metric"].values]
    splits = [s for s in CARD_SPLITS if s in res["split"].values]
    gap_base = gap_product or gap_reference_product(res, reference)
    gain, sig = {}, {}
    kinds = res["method_kind"].values if "method_kind" in res.coords else np.array([""] * res.sizes["product"])
    observation = np.asarray([str(k) == "observation" for k in kinds])
    for sp in splits:
        this = split_base(res, sp, base, gap_base)
        for k in metrics:
            cell = sub.sel(split=sp, metric=k)
            v, lo, hi = (cell[a].values for a in ("value", "ci_lower", "ci_upper"))
            b = cell.sel({"product": this})
            bv, blo, bhi = (float(b[a]) for a in ("value", "ci_lower", "ci_upper"))
            col = f"{k} ({sp})" if this == base else f"{k} ({sp} vs {this})"
            g = _gain(k, v, bv)
            if this != base:  # SMAP alone has its share of these samples only: no comparable cell
                g = np.where(observation, np.nan, g)
            gain[col] = g
            with np.errstate(invalid="ignore"):
                sig[col] = (lo > bhi) | (hi < blo)
    index = pd.Index([product_label(res, m) for m in res["product"].values], name="product")
    gain_df, sig_df = pd.DataFrame(gain, index=index), pd.DataFrame(sig, index=index)
    keep = [c for c in gain_df.columns if np.isfinite(gain_df[c].values).any()]  # SMAP has no gap-day score
    return gain_df[keep], sig_df[keep], base


def scorecard_text(gain: pd.DataFrame, sig: pd.DataFrame) -> pd.DataFrame:
    """The scorecard as text cells (signed gain, ``*`` where significant) for md / tex / csv."""
    out = gain.copy().astype(object)
    for c in gain.columns:
        out[c] = [
            "–" if not np.isfinite(g) else f"{g:+.4f}{'*' if s else ''}"
            for g, s in zip(gain[c].values, sig[c].values, strict=True)
        ]
    return out


def _colour(g: float, scale: float) -> str:
    if not np.isfinite(g) or scale <= 0:
        return "#f4f4f4"
    a = min(abs(g) / scale, 1.0)
    r, gr, b = (46, 125, 50) if g > 0 else (198, 40, 40)  # green better, red worse
    mix = lambda c: int(255 - a * (255 - c))  # noqa: E731
    return f"#{mix(r):02x}{mix(gr):02x}{mix(b):02x}"


def scorecard_html(gain: pd.DataFrame, sig: pd.DataFrame, caption: str) -> str:
    """A coloured HTML table: green better than the reference product, red worse, intensity by size
    relative to the column's largest difference; bold with ``*`` where significant."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in gain.columns)
    rows = []
    scale = {c: float(np.nanmax(np.abs(gain[c].values))) if np.isfinite(gain[c].values).any() else 0.0 for c in gain}
    for idx in gain.index:
        cells = []
        for c in gain.columns:
            g, s = float(gain.loc[idx, c]), bool(sig.loc[idx, c])
            text = "–" if not np.isfinite(g) else f"{g:+.4f}{'*' if s else ''}"
            weight = "font-weight:700;" if s else ""
            cells.append(f"<td style='background:{_colour(g, scale[c])};{weight}'>{html.escape(text)}</td>")
        rows.append(f"<tr><th>{html.escape(str(idx))}</th>{''.join(cells)}</tr>")
    return (
        f"<table class='scores scorecard'><caption>{html.escape(caption)}</caption>"
        f"<thead><tr><th>product</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )
