"""Report tables from a results Dataset, rendered as Markdown, LaTeX (booktabs), CSV and HTML.

Tables (each a ``pandas.DataFrame`` with one row per method):

* ``paper``: in-situ, pooled, all days: bias, R, RMSE, ubRMSE with 95 % CI and n (the paper's table), on
  the station-days every filled product has (the ``insitu_same`` reference); ``coverage``: each
  product's own matched station-days; ``paper_own_samples``: each product on all its own days;
* ``decomposition``, ``rank``, ``tcol``: MSE terms, Spearman / Kendall, triple collocation (pooled in-situ);
* ``windows``: ubRMSE per season and user window; ``strata``: per ISMN land cover / climate / soil class;
* ``gap_aware``: in-situ pooled RMSE/ubRMSE/R on SMAP-valid vs SMAP-gap days;
* ``networks``: in-situ ubRMSE and R per network; ``station_median``: median over stations;
* ``truth``: against the twin's truth on every land pixel, all / valid / gap;
* ``gap_age``: against truth by days to the nearest usable SMAP value (1, 2–3, 4–7, 8–30, 31–60, > 60);
* ``simulated_gaps``: against SMAP values hidden before fusion;
* ``paper_mode``: the seamless (``paper`` mode) DrcGAN product against SMAP on the same SMAP days, beside
  the published figures, and on the twin both against the truth there (no pass/fail: the paper defines
  no margin, and what the comparison measures is said in the caption);
* ``seeds``: mean ± sd over the members of a seed ensemble (``NAME:seedK`` products; listed nowhere
  else).

Every table reads the same-sample variant of its reference (``NAME_same``, see
:func:`stsg_bench.validation.evaluate.same_sample`) when the results hold it.
"""

from __future__ import annotations

import weakref

import numpy as np
import pandas as pd
import xarray as xr

from ..validation.evaluate import SAME_SUFFIX
from ..validation.metrics import METRICS, metric_names
from ..validation.score import GAP_AGE_SPLITS

#: the paper's STSG-SM vs SMAP on the same in-situ samples (Jiang et al. 2025)
PUBLISHED = {"R": (0.8388, 0.8405), "ubRMSE": (0.0585, 0.0579)}
MEMBER_TAG = ":seed"


def whole_period(res: xr.Dataset) -> xr.Dataset:
    """The scores over the whole period (window ``all``), without the window dimension."""
    return res.sel(window="all", drop=True) if "window" in res.dims else res


def members(res: xr.Dataset) -> dict[str, str]:
    """Seed-ensemble members -> the product they are members of: from the ``seed_member`` and
    ``base_method`` coordinates (results written since version 3), else from ``NAME:seedK`` names."""
    names = [str(m) for m in res["product"].values]
    if "seed_member" in res.coords and "base_method" in res.coords:
        seeds, bases = res["seed_member"].values, res["base_method"].values
        return {m: str(b) for m, k, b in zip(names, seeds, bases, strict=True) if int(k) >= 0}
    return {m: m.split(MEMBER_TAG)[0] for m in names if MEMBER_TAG in m}


def without_members(res: xr.Dataset) -> xr.Dataset:
    """The results without ensemble members (they are summarised in the ``seeds`` table only)."""
    member = members(res)
    keep = [m for m in res["product"].values if str(m) not in member]
    return res if len(keep) == res.sizes["product"] else res.sel({"product": keep})


def product_label(res: xr.Dataset, method) -> str:
    """A product's row label: its name, marked when it is an imported external product."""
    kind = str(res["method_kind"].sel({"product": method}).values) if "method_kind" in res.coords else ""
    return f"{method} (external)" if kind == "external" else str(method)


def identical_products(res: xr.Dataset) -> list[list[str]]:
    """Groups (of two or more) of products whose scores are bitwise identical everywhere (every
    reference, group, split, window and metric, and n): e.g. DrcGAN variants whose selected weights come
    from the same L1-only steps. Ensemble members are never grouped."""
    groups: dict[bytes, list[str]] = {}
    member = members(res)
    for m in res["product"].values:
        if str(m) in member:
            continue
        sel = res.sel({"product": m})
        key = np.nan_to_num(sel["value"].values, nan=-9e99).tobytes() + np.asarray(sel["n"].values).tobytes()
        groups.setdefault(key, []).append(str(m))
    return [g for g in groups.values() if len(g) > 1]


def collapse_identical(df: pd.DataFrame, res: xr.Dataset, groups: list[list[str]]) -> pd.DataFrame:
    """``df`` (rows labelled by :func:`product_label`) with each group of identical products in one row
    named ``a = b = c``."""
    for group in groups:
        labels = [product_label(res, m) for m in group]
        if not all(lab in df.index for lab in labels):
            continue
        df = df.drop(index=labels[1:]).rename(index={labels[0]: " = ".join(labels)})
    return df


def _has(res: xr.Dataset, reference: str, group: str = "pooled") -> bool:
    return (
        reference in res["reference"].values
        and group in res["group"].values
        and bool((res["n"].sel(reference=reference, group=group) > 0).any())
    )


def scored_reference(res: xr.Dataset, reference: str, same: bool = True) -> str:
    """The reference's same-sample variant (every product on the samples they all have) when the
    results hold it and ``same``; else the reference itself (each product on its own samples)."""
    variant = reference + SAME_SUFFIX
    return variant if same and _has(res, variant) else reference


def _fmt(v: float, metric: str) -> str:
    """Four decimals; squared units (the MSE terms) in scientific notation."""
    return f"{v:.3e}" if METRICS[metric].units == "m6 m-6" else f"{v:.4f}"


def _at(res: xr.Dataset, **sel) -> dict:
    """A selection, over the whole period when the results have windows."""
    return {**sel, "window": "all"} if "window" in res.dims else sel


_LOOKUPS: dict[int, tuple[weakref.ref, dict]] = {}


def _lookup(res: xr.Dataset) -> dict:
    """Positions of every coordinate label and the numpy arrays of the scores (built once per results
    object: thousands of table cells then index numpy instead of calling ``.sel``). Held by a weak
    reference, so the cache never keeps a results object (or its file) alive."""
    hit = _LOOKUPS.get(id(res))
    if hit is not None and hit[0]() is res:
        return hit[1]
    look = {
        "pos": {d: {str(v): i for i, v in enumerate(res[d].values)} for d in res["value"].dims},
        "dims": res["value"].dims,
        **{k: res[k].values for k in ("value", "ci_lower", "ci_upper", "n")},
    }
    _LOOKUPS[id(res)] = (weakref.ref(res), look)
    weakref.finalize(res, _LOOKUPS.pop, id(res), None)
    return look


def _get(res: xr.Dataset, var: str, **sel) -> float:
    """One score by labels (window ``all`` when the results have windows)."""
    look = _lookup(res)
    sel = _at(res, **sel)
    idx = tuple(look["pos"][d][str(sel[d])] for d in look["dims"] if d in sel)
    return float(look[var][idx])


def _cell(res, method, reference, group, split, metric, ci=True) -> str:
    sel = dict(product=method, reference=reference, group=group, split=split, metric=metric)
    v = _get(res, "value", **sel)
    if not np.isfinite(v):
        return "–"
    if not ci:
        return _fmt(v, metric)
    lo, hi = _get(res, "ci_lower", **sel), _get(res, "ci_upper", **sel)
    f = lambda x: _fmt(x, metric)  # noqa: E731
    return f"{f(v)} [{f(lo)}, {f(hi)}]" if np.isfinite(lo) else f(v)


def _n(res, method, reference, group, split) -> int:
    return int(_get(res, "n", product=method, reference=reference, group=group, split=split))


def paper_table(res: xr.Dataset, reference: str = "insitu", split: str = "all", same: bool = True) -> pd.DataFrame:
    """Pooled metrics with CIs and n; on the same samples for every product when the results have them,
    with each product's own number of samples (its coverage) beside them."""
    ref = scored_reference(res, reference, same)
    rows = {}
    for m in res["product"].values:
        row: dict[str, str | int] = {k: _cell(res, m, ref, "pooled", split, k) for k in metric_names("paper")}
        row["n"] = _n(res, m, ref, "pooled", split)
        rows[product_label(res, m)] = row
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("product")


def coverage_table(res: xr.Dataset) -> pd.DataFrame:
    """Each product's own matched in-situ station-days (all, SMAP-usable, gap days) and the share of
    them in the same-sample comparison: how much of the period each product covers."""
    same = scored_reference(res, "insitu")
    rows = {}
    for m in res["product"].values:
        row: dict[str, str | int] = {}
        for sp in ("all", "smap_valid", "smap_gap"):
            if sp in res["split"].values:
                row[f"n own ({sp})"] = _n(res, m, "insitu", "pooled", sp)
        own, shared = _n(res, m, "insitu", "pooled", "all"), _n(res, m, same, "pooled", "all")
        row["n same samples"] = shared
        row["same / own"] = f"{shared / own:.2f}" if own else "–"
        rows[product_label(res, m)] = row
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("product")


def metric_table(res: xr.Dataset, table: str, reference: str = "insitu", split: str = "all") -> pd.DataFrame:
    """Pooled values (with CIs where the metric has them) and n of the metrics declared for ``table``
    (:data:`stsg_bench.validation.metrics.TABLES`), on the same samples when available."""
    ref = scored_reference(res, reference)
    names = [k for k in metric_names(table) if k in res["metric"].values]
    rows = {}
    for m in res["product"].values:
        row: dict[str, str | int] = {k: _cell(res, m, ref, "pooled", split, k) for k in names}
        why = tc_degenerate(res, m, ref, split) if table == "tcol" else ""
        if why:
            row = {k: f"degenerate ({why})" if k == names[0] else "–" for k in names}
        row["n"] = _n(res, m, ref, "pooled", split)
        rows[product_label(res, m)] = row
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("product")


#: |SNR| beyond this (dB) is not a plausible triple-collocation estimate for soil moisture
TC_SNR_LIMIT = 30.0


def tc_degenerate(res: xr.Dataset, method, reference: str, split: str) -> str:
    """Why a product's triple-collocation estimates are not to be read as numbers ('' when they are):
    a negative error variance (no value), an estimate outside its own bootstrap CI, |SNR| > 30 dB."""
    if "TC_SNR" not in res["metric"].values:
        return ""
    sel = dict(product=method, reference=reference, group="pooled", split=split)
    values = {k: _get(res, "value", metric=k, **sel) for k in ("TC_SNR", "TC_err", "TC_beta") if k in res["metric"]}
    if not any(np.isfinite(v) for v in values.values()):
        return ""
    if not all(np.isfinite(v) for v in values.values()):
        return "negative error variance"
    for k, v in values.items():
        lo, hi = _get(res, "ci_lower", metric=k, **sel), _get(res, "ci_upper", metric=k, **sel)
        if np.isfinite(lo) and np.isfinite(hi) and not lo - 1e-6 * abs(v) <= v <= hi + 1e-6 * abs(v):
            return f"{k} {v:.3g} outside its bootstrap CI [{lo:.3g}, {hi:.3g}]"
    if abs(values.get("TC_SNR", 0.0)) > TC_SNR_LIMIT:
        return f"SNR magnitude {abs(values['TC_SNR']):.1f} dB > {TC_SNR_LIMIT:g} dB"
    return ""


def window_table(res: xr.Dataset, metric: str = "ubRMSE", reference: str = "insitu") -> pd.DataFrame | None:
    """``metric`` (pooled, split all) and n per temporal window (seasons, user windows); None without
    windows beyond ``all``."""
    if "window" not in res.dims or res.sizes["window"] < 2:
        return None
    ref = scored_reference(res, reference)
    rows = {}
    for m in res["product"].values:
        row: dict[str, str | int] = {}
        for w in res["window"].values:
            sub = res.sel(window=w)
            row[f"{w} {metric}"] = _cell(sub, m, ref, "pooled", "all", metric, ci=False)
            row[f"{w} n"] = _n(sub, m, ref, "pooled", "all")
        rows[product_label(res, m)] = row
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("product")


def split_table(res: xr.Dataset, reference: str, metrics=None, splits=("smap_valid", "smap_gap")) -> pd.DataFrame:
    metrics = metric_names("split") if metrics is None else metrics
    reference = scored_reference(res, reference)
    rows = {}
    for m in res["product"].values:
        row: dict[str, str | int] = {}
        for sp in splits:
            if sp not in res["split"].values:
                continue
            for k in metrics:
                row[f"{k} ({sp})"] = _cell(res, m, reference, "pooled", sp, k, ci=False)
            row[f"n ({sp})"] = _n(res, m, reference, "pooled", sp)
        rows[product_label(res, m)] = row
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("product")


def _has_values(res: xr.Dataset, metric: str) -> bool:
    return metric in res["metric"].values and bool(np.isfinite(res["value"].sel(metric=metric)).any())


def group_table(res: xr.Dataset, prefix: str | tuple[str, ...], metrics=None) -> pd.DataFrame:
    metrics = metric_names("groups") if metrics is None else metrics
    groups = [str(g) for g in res["group"].values if str(g).startswith(prefix)]
    ref = scored_reference(res, "insitu")
    n = res["n"].sel(reference=ref, split="all")
    rows = {}
    for m in res["product"].values:
        row = {}
        for g in groups:
            label = g.split(":", 1)[-1] if isinstance(prefix, str) else g
            count = int(n.sel(group=g).max())  # matched station-days in the group (same samples: every product's)
            for k in metrics:
                row[f"{label} (n {count:,}) {k}"] = _cell(res, m, ref, g, "all", k, ci=False)
        rows[product_label(res, m)] = row
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("product")


STRATA = ("land_cover:", "climate:", "soil:")


def all_tables(res: xr.Dataset) -> dict[str, tuple[str, pd.DataFrame]]:
    """{key: (caption, table)} for every table the results support, the paper's table first."""
    windowed = without_members(res)
    full, res = whole_period(res), whole_period(windowed)
    t = {}
    if _has(res, "insitu"):
        same = scored_reference(res, "insitu") != "insitu"
        t["paper"] = (
            (
                "In-situ validation, the station-days every filled product of the suite has (same samples; SMAP "
                "alone and external products on their share of them; each product's own coverage is in the "
                "coverage table) (bias = product − in-situ; 95 % CI)"
            )
            if same
            else "In-situ validation, all matched station-days (bias = product − in-situ; 95 % CI)",
            paper_table(res),
        )
        if same:
            t["coverage"] = (
                "Coverage: each product's own matched in-situ station-days (all / SMAP usable / SMAP gap) and "
                "how many of them are in the same-sample comparison",
                coverage_table(res),
            )
            t["paper_own_samples"] = (
                "In-situ validation, each product on all its own matched station-days (not comparable across rows)",
                paper_table(res, same=False),
            )
        for key, caption in (
            ("decomposition", "MSE decomposition (pooled in-situ, m⁶ m⁻⁶): MSE = MSE_corr + MSE_var + MSE_bias"),
            ("rank", "Rank correlations (pooled in-situ): Spearman ρ and Kendall τ-b, 95 % CI (Bonett & Wright)"),
        ):
            t[key] = (caption, metric_table(res, key))
        if _has_values(res, "TC_SNR"):
            t["tcol"] = (
                f"Triple collocation (in-situ, product, {res.attrs.get('tc_partner', 'partner')}), pooled: the "
                "product's SNR (dB), error sd scaled to in-situ (m³ m⁻³) and scaling β, 95 % percentile "
                "bootstrap CI; 'degenerate' where an error-variance estimate is negative, an estimate lies "
                "outside its own bootstrap CI or |SNR| > 30 dB (not readable as numbers). Assumes independent "
                "errors (a "
                "product fused from the partner shares its errors) and one signal for all pooled stations",
                metric_table(res, "tcol"),
            )
        by_window = window_table(windowed)
        if by_window is not None:
            t["windows"] = (
                "In-situ ubRMSE (pooled, same samples) per temporal window: the whole period, the seasons "
                "(every year's DJF, MAM, JJA, SON days) and user windows",
                by_window,
            )
        strata = [g for g in res["group"].values if str(g).startswith(STRATA)]
        if strata:
            t["strata"] = (
                "In-situ ubRMSE and R per stratum of the ISMN station metadata (land cover, Köppen-Geiger "
                "climate, USDA soil texture)",
                group_table(res, STRATA),
            )
        t["gap_aware"] = (
            "In-situ, days with usable SMAP in the station's cell vs gap days (same samples when available)",
            split_table(res, "insitu"),
        )
        t["station_median"] = ("Median over stations (each with ≥ min_obs days)", _median_table(res))
        wins = model_wins_table(res)
        if wins is not None:
            t["model_wins"] = (
                "Stations where the uncorrected model (GLDAS Noah) scores better than each product (same "
                "samples, per station, whole period): k of n stations",
                wins,
            )
        if any(str(g).startswith("network:") for g in res["group"].values):
            t["networks"] = ("Per-network pooled ubRMSE and R", group_table(res, "network:"))
    if _has(res, "truth"):
        t["truth"] = (
            "Against the twin's truth, every land pixel: all days / SMAP usable / SMAP gaps",
            split_table(res, "truth", splits=("all", "smap_valid", "smap_gap")),
        )
    if _has(res, "truth") and any(s in res["split"].values for s in GAP_AGE_SPLITS):
        t["gap_age"] = (
            "Against the twin's truth by gap age (days to the nearest usable SMAP value of the cell; same "
            "samples when available): RMSE and n per bin",
            gap_age_table(res),
        )
    if _has(res, "hidden_smap"):
        t["simulated_gaps"] = (
            "Simulated gaps: reconstruction of hidden SMAP values (same samples when available)",
            paper_table(res, "hidden_smap"),
        )
    paper = paper_mode_table(res)
    if paper is not None:
        t["paper_mode"] = (
            "The seamless product (paper mode: the generator's field on every day, SMAP not passed through) "
            "vs SMAP on the in-situ samples where SMAP is usable (Δ = product − SMAP), as the paper compares "
            "STSG-SM with SMAP (its figures in the last row). On SMAP days this product predicts SMAP from the "
            "other days' SMAP and Noah: it can score closer to the stations (and, on the twin, to the truth: "
            "the last columns) than SMAP itself, because SMAP's unpredictable retrieval error is not "
            "reproduced. Read it as agreement with SMAP where SMAP exists, not as a test of the gap filling; "
            "the paper defines no pass/fail margin and none is applied here",
            paper,
        )
    seeds = seeds_table(full)
    if seeds is not None:
        t["seeds"] = (
            "Seed ensembles: mean ± sd of each score over the members (each trained with its own seed); the "
            "ensemble-mean product is the row without ':seed' in the other tables; sd % = sd / mean",
            seeds,
        )
    return t


def paper_mode_table(res: xr.Dataset) -> pd.DataFrame | None:
    """Each paper-mode product vs the SMAP-only product on the SMAP-valid in-situ samples they share,
    with the paper's own figures as the last row; None without a paper-mode product or SMAP."""
    modes = res.coords.get("product_mode")
    kinds = res.coords.get("method_kind")
    if modes is None or kinds is None or not _has(res, "insitu") or "smap_valid" not in res["split"].values:
        return None
    papers = [str(m) for m, mode in zip(res["product"].values, modes.values, strict=True) if mode == "paper"]
    smap = [str(m) for m, k in zip(res["product"].values, kinds.values, strict=True) if k == "observation"]
    if not papers or not smap:
        return None
    ref = scored_reference(res, "insitu")
    value = lambda m, k: float(  # noqa: E731
        res["value"].sel({"product": m}).sel(_at(res, reference=ref, group="pooled", split="smap_valid", metric=k))
    )
    truth = scored_reference(res, "truth") if _has(res, "truth") else None
    rows: dict[str, dict] = {}
    for m in papers:
        row: dict[str, str | int] = {}
        for k in PUBLISHED:
            p, o = value(m, k), value(smap[0], k)
            row[f"{k} product"], row[f"{k} SMAP"], row[f"Δ{k}"] = f"{p:.4f}", f"{o:.4f}", f"{p - o:+.4f}"
        row["n"] = _n(res, m, ref, "pooled", "smap_valid")
        if truth is not None:  # the twin: both against the truth on the same SMAP days
            at = _at(res, reference=truth, group="pooled", split="smap_valid", metric="RMSE")
            for label, prod in (("product", m), ("SMAP", smap[0])):
                row[f"RMSE vs truth, {label}"] = f"{float(res['value'].sel({'product': prod}).sel(at)):.4f}"
        rows[m] = row
    pub: dict[str, str | int] = {}
    for k, (p, o) in PUBLISHED.items():
        pub[f"{k} product"], pub[f"{k} SMAP"], pub[f"Δ{k}"] = f"{p:.4f}", f"{o:.4f}", f"{p - o:+.4f}"
    pub["n"] = "–"
    rows["STSG-SM, Jiang et al. 2025 (published)"] = pub
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("product")


def seeds_table(res: xr.Dataset) -> pd.DataFrame | None:
    """Mean ± sd over each ensemble's members of the summary scores; None without ensembles."""
    of = members(res)
    groups: dict[str, list[str]] = {}
    for m, parent in of.items():
        groups.setdefault(parent, []).append(m)
    if not groups:
        return None
    frame = summary_frame(res, members=True)
    rows = {}
    for parent, names in groups.items():
        sub = frame.loc[names].astype(float)
        row: dict[str, str | int] = {"members": len(names)}
        for col in sub.columns:
            if col.endswith(" n") or " n " in col or col.endswith("n own"):
                continue
            mean, sd = float(sub[col].mean()), float(sub[col].std(ddof=1))
            row[col] = f"{mean:.4f} ± {sd:.4f}"
            if col.endswith("RMSE") and mean > 0:
                row[f"{col} sd %"] = f"{100 * sd / mean:.1f}"
        rows[parent] = row
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("ensemble")


def model_wins_table(res: xr.Dataset) -> pd.DataFrame | None:
    """Per product: at how many of the scored stations the uncorrected model (kind ``model``, GLDAS
    Noah) has a higher R, a lower ubRMSE, and both, than the product (same samples, whole period) —
    said, not hidden, where the fused product does not beat its model input. None without a model."""
    kinds = res.coords.get("method_kind")
    if kinds is None or not _has(res, "insitu"):
        return None
    models = [str(m) for m, k in zip(res["product"].values, kinds.values, strict=True) if k == "model"]
    stations = [g for g in res["group"].values if str(g).startswith("station:")]
    if not models or not stations:
        return None
    sub = res.sel(_at(res, reference=scored_reference(res, "insitu"), split="all")).sel(group=stations)
    model = sub["value"].sel({"product": models[0]})
    rows = {}
    for m in res["product"].values:
        if str(m) == models[0]:
            continue
        v = sub["value"].sel({"product": m})
        r_p, r_m = v.sel(metric="R").values, model.sel(metric="R").values
        u_p, u_m = v.sel(metric="ubRMSE").values, model.sel(metric="ubRMSE").values
        ok = np.isfinite(r_p) & np.isfinite(r_m) & np.isfinite(u_p) & np.isfinite(u_m)
        rows[product_label(res, m)] = {
            "stations": int(ok.sum()),
            f"{models[0]} higher R": int((r_m > r_p)[ok].sum()),
            f"{models[0]} lower ubRMSE": int((u_m < u_p)[ok].sum()),
            f"{models[0]} better on both": int(((r_m > r_p) & (u_m < u_p))[ok].sum()),
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("product")


def gap_age_table(res: xr.Dataset, reference: str = "truth", metric: str = "RMSE") -> pd.DataFrame:
    """``metric`` and n per gap-age bin (one column pair per bin), one row per product."""
    ref = scored_reference(res, reference)
    bins = [s for s in GAP_AGE_SPLITS if s in res["split"].values]
    rows = {}
    for m in res["product"].values:
        row: dict[str, str | int] = {}
        for sp in bins:
            label = sp.split(":", 1)[1]
            row[f"{metric} {label} d"] = _cell(res, m, ref, "pooled", sp, metric, ci=False)
            row[f"n {label} d"] = _n(res, m, ref, "pooled", sp)
        rows[product_label(res, m)] = row
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("product")


def _median_table(res: xr.Dataset) -> pd.DataFrame:
    ref = scored_reference(res, "insitu")
    rows = {}
    for m in res["product"].values:
        rows[product_label(res, m)] = {
            **{k: _cell(res, m, ref, "station_median", "all", k, ci=False) for k in metric_names("median")},
            "stations": _n(res, m, ref, "station_median", "all"),
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("product")


def summary_frame(res: xr.Dataset, members: bool = False) -> pd.DataFrame:
    """The one-screen summary: pooled in-situ metrics and gap RMSE against truth and hidden SMAP, on the
    same samples for every product when the results have them (``insitu n own``: each one's coverage);
    ensemble members only with ``members``."""
    res = whole_period(res if members else without_members(res))
    value = lambda m, ref, split, k: float(  # noqa: E731
        res["value"].sel({"product": m}).sel(reference=ref, group="pooled", split=split, metric=k)
    )
    rows = {}
    for m in res["product"].values:
        row: dict[str, float] = {}
        if _has(res, "insitu"):
            ref = scored_reference(res, "insitu")
            for k in metric_names("paper"):
                row[f"insitu {k}"] = value(m, ref, "all", k)
            row["insitu n"] = _n(res, m, ref, "pooled", "all")
            if ref != "insitu":
                row["insitu n own"] = _n(res, m, "insitu", "pooled", "all")
        if _has(res, "truth"):
            row["truth gap RMSE"] = value(m, scored_reference(res, "truth"), "smap_gap", "RMSE")
        if _has(res, "hidden_smap"):
            row["hidden SMAP RMSE"] = value(m, scored_reference(res, "hidden_smap"), "all", "RMSE")
        rows[product_label(res, m)] = row
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("product")


def to_markdown(df: pd.DataFrame) -> str:
    cols = [df.index.name or ""] + [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for idx, row in df.iterrows():
        lines.append("| " + " | ".join([str(idx)] + [str(v) for v in row.values]) + " |")
    return "\n".join(lines) + "\n"


def to_latex(df: pd.DataFrame, caption: str = "") -> str:
    esc = lambda s: str(s).replace("_", r"\_").replace("%", r"\%").replace("–", "--").replace("−", "-")  # noqa: E731
    cols = [df.index.name or ""] + [str(c) for c in df.columns]
    out = [r"\begin{table}[ht]", r"\centering"]
    if caption:
        out.append(rf"\caption{{{esc(caption)}}}")
    out += [
        r"\begin{tabular}{l" + "r" * len(df.columns) + "}",
        r"\toprule",
        " & ".join(esc(c) for c in cols) + r" \\",
        r"\midrule",
    ]
    for idx, row in df.iterrows():
        out.append(" & ".join([esc(idx)] + [esc(v) for v in row.values]) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(out) + "\n"


def to_html(df: pd.DataFrame, caption: str = "") -> str:
    import html

    table = df.to_html(classes="scores", border=0, escape=True)
    if caption:
        table = table.replace(">", f">\n  <caption>{html.escape(caption)}</caption>", 1)
    return table
