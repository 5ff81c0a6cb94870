"""Write a whole report folder from a results file (built in a temporary folder, then swapped in)."""

from __future__ import annotations

import base64
import html
import json
import logging
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import InputError
from ..files import atomic_directory
from ..provenance import case_fingerprint, from_attr
from ..validation.metrics import METRICS
from ..validation.score import open_results
from . import figures
from .comparisons import FIELD_REFERENCES, field_paired_table, headline_table, paired_marks, paired_table
from .scorecard import gap_reference_product, scorecard, scorecard_html, scorecard_text
from .tables import (
    all_tables,
    collapse_identical,
    identical_products,
    members,
    scored_reference,
    to_html,
    to_latex,
    to_markdown,
    whole_period,
    without_members,
)

log = logging.getLogger(__name__)

CSS = """body{font-family:system-ui,sans-serif;max-width:1150px;margin:2em auto;color:#222;line-height:1.4}
table.scores{border-collapse:collapse;font-size:13px;margin:1em 0;display:block;max-width:100%;overflow-x:auto}
table.scores td,table.scores th{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right}
table.scores caption{text-align:left;font-weight:600;padding:4px 0}
table.defs td{text-align:left}
nav ol{columns:2;font-size:14px}
figure{margin:1em 0}figcaption{font-size:13px;color:#444}
img{max-width:100%;border:1px solid #eee}"""

#: contents-list titles of tables whose caption does not start with one
TITLES = {
    "headline": "Headline: pooled and station-level scores",
    "paired": "Paired comparison with the best trivial baseline",
    "paired_truth": "Paired comparison against truth",
    "paired_hidden_smap": "Paired comparison on simulated gaps",
    "paper": "Paper table: in-situ, same samples",
    "windows": "Seasons and user windows",
    "strata": "ISMN strata: land cover, climate, soil",
    "model_wins": "Stations where GLDAS Noah beats each product",
    "gap_aware": "SMAP-usable vs gap days",
    "paper_mode": "Paper mode (seamless product) vs SMAP",
    "seeds": "Seed ensembles",
}
SPLIT_TEXT = {
    "all": "every matched day",
    "smap_valid": "days with a usable SMAP retrieval in the cell (the paper's comparison with SMAP)",
    "smap_gap": "days without one: where a gap-filler has to fill",
    "gap_age:*": "gap days by the number of days to the nearest usable SMAP value of the same cell",
}
GROUP_TEXT = {
    "pooled": "all matched samples of all stations together (the paper's table)",
    "station_median": "median of the per-station scores (stations with at least min_obs matched days)",
    "network:NAME": "samples of one ISMN network pooled",
    "land_cover: / climate: / soil:": "strata of the ISMN station metadata (ESA CCI land cover, Köppen-Geiger "
    "climate, USDA texture class of the HWSD fractions), pooled",
    "station:KEY": "one sensor",
}
REFERENCE_TEXT = {
    "insitu": "ISMN daily means (good-flag hours) in the station's 36 km cell; each product on its own samples",
    "truth": "the synthetic twin's true field, every land pixel",
    "hidden_smap": "SMAP values hidden before fusion (simulated gaps)",
    "*_same": "the same reference on the samples every filled product has (tables use these)",
}


def _products_on_one_day(results_path: Path, res: xr.Dataset, case: xr.Dataset) -> tuple[dict, object]:
    """({name: product on the maps' day}, day): one day read from each product file."""
    out: dict[str, xr.DataArray] = {}
    day = None
    member = members(res)
    for name, rel in json.loads(res.attrs.get("products", "{}")).items():
        p = results_path.parent / rel
        if name in member or not p.exists():
            continue
        # not closed here: xarray shares one cached handle per file, and the run that wrote the
        # products may still hold them open (closing it under that run's feet crashes netCDF4)
        sm = xr.open_dataset(p)["sm"]
        if day is None:
            day = figures.median_coverage_day(case, sm.indexes["time"])
        out[name] = sm.sel(time=[day]).load()
    return out, day


def with_comparisons(res: xr.Dataset, tables: dict) -> dict:
    """The station-level headline first, the paired comparison with the best trivial baseline after the
    pooled table (both need the per-station series the results store), and the paired comparisons on the
    gridded references (truth, hidden SMAP) after their tables."""
    out: dict = {}
    head = headline_table(res)
    if head is not None:
        out["headline"] = (head[1], head[0])
    paired = paired_table(res)
    for key, value in tables.items():
        out[key] = value
        if key == "paper" and paired is not None:
            out["paired"] = (paired[1], paired[0])
    if paired is not None and "paired" not in out:
        out["paired"] = (paired[1], paired[0])
    for reference, (_, key) in FIELD_REFERENCES.items():  # gridded references: after their own table
        field = field_paired_table(res, reference)
        if field is None:
            continue
        at = list(out).index(key) + 1 if key in out else len(out)
        items = list(out.items())
        items.insert(at, (f"paired_{reference}", (field[1], field[0])))
        out = dict(items)
    return out


def card_splits(gain) -> list[str]:
    """The splits of a scorecard's columns (``metric (split)`` or ``metric (split vs NAME)``)."""
    return sorted({c.split(" (")[1].rstrip(")").split(" vs ")[0] for c in gain.columns})


def card_metrics(gain) -> list[str]:
    return sorted({c.split(" (")[0] for c in gain.columns})


def paired_significance(sig, marks):
    """The scorecard's marks from the paired test where it ran (p < 0.05), CI overlap elsewhere."""
    if marks is None:
        return sig
    out = sig.copy()
    for c in sig.columns:
        if c in marks.columns:
            p = marks[c].reindex(sig.index).to_numpy(dtype=float)
            out[c] = np.where(np.isfinite(p), p < 0.05, sig[c].to_numpy())
    return out


def check_same_case(results_path: Path, res: xr.Dataset, case_path, case: xr.Dataset) -> None:
    """Refuse drawing a case beside scores of another case (their fingerprints differ)."""
    want = res.attrs.get("case_fingerprint")
    got = case_fingerprint(case)
    if want and want != got:
        raise InputError(
            case_path,
            f"is another case than the one {results_path.name} was scored on (case fingerprint {got}, results {want})",
            "case_fingerprint",
        )


def _software_line(res: xr.Dataset) -> str:
    sw = from_attr(res.attrs.get("provenance")).get("software", {})
    if not sw:
        return "provenance not recorded (results written before provenance was kept)"
    return f"stsg-bench {sw.get('stsg_bench')} (commit {sw.get('git_commit')}); kernels: {sw.get('kernels')}"


def _provenance_html(res: xr.Dataset) -> str:
    """Software, commit, kernels, run config, inputs and data citations of the run, from the results."""
    prov = from_attr(res.attrs.get("provenance"))
    cites = from_attr(res.attrs.get("citations")) or prov.get("citations", {})
    rows = [(k, str(v)) for k, v in prov.get("software", {}).items()]
    if prov.get("case_fingerprint"):
        rows.append(("case fingerprint", prov["case_fingerprint"]))
    run = prov.get("run_config", {})
    if run.get("path"):
        rows.append(("run config", f"{run['path']} (sha256 {str(run.get('sha256', ''))[:16]})"))
    for item in prov.get("inputs", []):
        digest = item.get("sha256") or item.get("sha256_ends") or ""
        size = f"{item['size']:,} bytes" if "size" in item else "missing"
        rows.append((f"input {item.get('name', '?')}", f"{size}, sha256 {digest[:16]}"))
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    text = f"<table class='scores defs'><tbody>{body}</tbody></table>" if rows else "<p>not recorded</p>"
    if cites:
        items = "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(str(v))}</li>" for k, v in cites.items())
        text += f"<h3>Data citations</h3><ul>{items}</ul>"
    return text


def _embed(path: Path) -> str:
    """The image as a data: URI (the page works offline, alone)."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _definitions(res: xr.Dataset) -> str:
    """Every metric (from the registry), split, window, group and reference the page uses, in words."""
    rows = []
    for name in res["metric"].values:
        m = METRICS.get(str(name))
        if m is not None:
            rows.append((str(name), f"{m.long_name}; units {m.units}; better: {m.better}; CI: {m.ci_method}"))
    for key, text in SPLIT_TEXT.items():
        rows.append((f"split {key}", text))
    if "window" in res.dims:
        desc = res.coords.get("window_description")
        for i, w in enumerate(res["window"].values):
            rows.append((f"window {w}", str(desc.values[i]) if desc is not None else ""))
    rows += [(f"group {k}", v) for k, v in GROUP_TEXT.items()]
    rows += [(f"reference {k}", v) for k, v in REFERENCE_TEXT.items()]
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f"<table class='scores defs'><tbody>{body}</tbody></table>"


def _figure_n(res: xr.Dataset, key: str) -> str:
    """The samples behind a figure, in words."""
    if "insitu" not in res["reference"].values:
        return ""
    ref = scored_reference(res, "insitu")
    n = int(res["n"].sel(reference=ref, group="pooled", split="all").max())
    stations = int((res["station_status"] == "ok").any("product").sum()) if "station_status" in res else 0
    return {
        "taylor": f"n = {n:,} pooled station-days per product (same samples) at {stations} stations",
        "series": f"{stations} scored stations; n per panel in its title",
        "map": f"{stations} scored stations",
        "boxplots": f"{stations} scored stations, one value per station",
        "scorecard": f"n = {n:,} pooled station-days (same samples); SMAP alone on its share",
        "maps": "every land cell of the day shown",
        "training": "validation: held-out training days with simulated gaps (see the method's settings)",
    }.get(key, "")


def write_report(
    results_path: str | Path, out: str | Path, case_path: str | Path | None = None, reference_product: str | None = None
) -> Path:
    """Render ``results_path`` into ``out``: tables/ (csv, md, tex, html), figures/ (png) and one
    self-contained index.html (images embedded, table of contents, definitions, notes); returns it.
    ``reference_product``: the scorecard's baseline (default: SMAP alone)."""
    results_path = Path(results_path)
    res = open_results(results_path)
    tables = all_tables(res)
    if not tables:
        raise InputError(results_path, "results hold no scores to report", "n")
    if reference_product is not None and reference_product not in res["product"].values:
        raise InputError(
            results_path, f"no product '{reference_product}' to compare with (--reference-product)", "product"
        )
    tables = with_comparisons(res, tables)
    same = identical_products(res)
    tables = {k: (cap, collapse_identical(df, res, same)) for k, (cap, df) in tables.items()}
    scores = scorecard(res, reference_product)
    card = None
    if scores is not None:
        gap_base = gap_reference_product(res)
        marks = paired_marks(res, scores[2], card_splits(scores[0]), card_metrics(scores[0]), gap_base=gap_base)
        card = (scores[0], paired_significance(scores[1], marks), scores[2], marks is not None)
    res = whole_period(without_members(res))  # figures show products over the whole period
    out = Path(out)
    with atomic_directory(out) as tmp:
        (tmp / "tables").mkdir()
        (tmp / "figures").mkdir()
        sections: list[tuple[str, str, str]] = []  # (id, title, html)

        def save_table(key: str, caption: str, df) -> None:
            df.to_csv(tmp / "tables" / f"{key}.csv")
            (tmp / "tables" / f"{key}.md").write_text(f"**{caption}**\n\n" + to_markdown(df), encoding="utf-8")
            (tmp / "tables" / f"{key}.tex").write_text(to_latex(df, caption), encoding="utf-8")
            (tmp / "tables" / f"{key}.html").write_text(to_html(df, caption), encoding="utf-8")

        def add_figure(key: str, title: str, path: Path | None) -> None:
            if path is None:
                return
            n = _figure_n(res, key)
            cap = html.escape(title + (f" ({n})" if n else ""))
            sections.append(
                (
                    f"fig-{key}",
                    title,
                    f"<figure><img src='{_embed(path)}' alt='{cap}'><figcaption>{cap}</figcaption></figure>",
                )
            )

        for key, (caption, df) in tables.items():
            save_table(key, caption, df)
            title = TITLES.get(key) or caption.split(":")[0].split("(")[0].strip()
            sections.append((f"table-{key}", title, to_html(df, caption)))
            if key == "paper" and card is not None:  # the scorecard right after the paper's table
                gain, sig, base, paired = card
                how = (
                    "* = paired bootstrap p < 0.05 on the station-days both products share (over cells or "
                    "blocks of days; ρ: the 95 % CIs do not overlap)"
                    if paired
                    else "* = the 95 % CIs do not overlap"
                )
                n = _figure_n(res, "scorecard")
                gap = gap_reference_product(res)
                against_gap = (
                    f"; where {base} has no value of its own (all, smap_gap) against {gap}, the best trivial "
                    "baseline on gap days"
                    if gap and gain.columns.str.contains(f" vs {gap}").any()
                    else ""
                )
                cap = (
                    f"Scorecard: gain over {base} on the same in-situ samples ({n}{against_gap}; positive = "
                    f"better; bias as |bias|; {how})"
                )
                save_table("scorecard", cap, scorecard_text(gain, sig))
                sections.append(("table-scorecard", f"Scorecard against {base}", scorecard_html(gain, sig, cap)))
                add_figure(
                    "scorecard",
                    f"Scorecard against {base} as a heat map",
                    figures.scorecard_figure(gain, sig, base, tmp / "figures" / "scorecard.png"),
                )
        fig_dir = tmp / "figures"
        case = None
        if case_path is not None and Path(case_path).exists():
            from ..case import open_case

            case = open_case(case_path)
            check_same_case(results_path, res, case_path, case)
            prods, day = _products_on_one_day(results_path, res, case)
            if prods:
                add_figure(
                    "maps", "Maps of one test day (m³ m⁻³)", figures.maps_figure(case, prods, fig_dir / "maps.png", day)
                )
            add_figure(
                "map",
                "Per-station ubRMSE of the fused product",
                figures.station_map_figure(res, case, fig_dir / "station_map.png"),
            )
        add_figure("series", "Station time series", figures.station_series_figure(res, fig_dir / "station_series.png"))
        add_figure("taylor", "Taylor diagram", figures.taylor_figure(res, fig_dir / "taylor.png"))
        add_figure(
            "boxplots",
            "Per-network station ubRMSE",
            figures.network_boxplot_figure(res, fig_dir / "network_boxplots.png"),
        )
        add_figure(
            "gap_age",
            "Score against truth by gap age (n per bin on the axis)",
            figures.gap_age_figure(res, fig_dir / "gap_age.png"),
        )
        add_figure(
            "training",
            "DrcGAN training: training L1 and validation RMSE (selected step marked)",
            figures.training_figure(res, fig_dir / "training.png"),
        )
        sections.append(("definitions", "Definitions", _definitions(res)))
        notes = json.loads(res.attrs.get("notes", "[]"))
        notes_html = "<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>" if notes else "<p>none</p>"
        sections.append(("notes", "Notes of the run", notes_html))
        sections.append(("provenance", "Provenance and data citations", _provenance_html(res)))
        toc = "".join(f"<li><a href='#{sid}'>{html.escape(title)}</a></li>" for sid, title, _ in sections)
        page = [
            "<!doctype html><html><head><meta charset='utf-8'><title>stsg-bench report</title>",
            f"<style>{CSS}</style></head><body>",
            f"<h1>stsg-bench report: {html.escape(str(res.attrs.get('case', '')))}</h1>",
            f"<p>training period {html.escape(str(res.attrs.get('train_period', '?')))}, test period "
            f"{html.escape(str(res.attrs.get('test_period', '?')))}; SMAP quality rule "
            f"'{html.escape(str(res.attrs.get('smap_quality_rule', '')))}'; bias = product − reference; "
            "units m³ m⁻³ unless stated (R, ρ, τ dimensionless; MSE terms m⁶ m⁻⁶; SNR dB).</p>",
            f"<p>{html.escape(_software_line(res))}</p>",
            f"<nav><h2>Contents</h2><ol>{toc}</ol></nav>",
        ]
        page += [f"<section id='{sid}'><h2>{html.escape(title)}</h2>{body}</section>" for sid, title, body in sections]
        page.append("</body></html>")
        (tmp / "index.html").write_text("\n".join(page), encoding="utf-8")
    return out / "index.html"
