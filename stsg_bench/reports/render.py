"""Write a whole report folder from a results file (built in a temporary folder, then swapped in)."""

from __future__ import annotations

import html
import json
import logging
from pathlib import Path

import xarray as xr

from ..errors import InputError
from ..files import atomic_directory
from ..validation.score import open_results
from . import figures
from .tables import all_tables, is_member, to_html, to_latex, to_markdown, without_members

log = logging.getLogger(__name__)

CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table.scores{border-collapse:collapse;font-size:13px;margin:1em 0}
table.scores td,table.scores th{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right}
table.scores caption{text-align:left;font-weight:600;padding:4px 0}
img{max-width:100%;border:1px solid #eee;margin:.5em 0}"""


def _products(results_path: Path, res: xr.Dataset) -> dict[str, xr.DataArray]:
    out = {}
    for name, rel in json.loads(res.attrs.get("products", "{}")).items():
        p = results_path.parent / rel
        if is_member(name):
            continue
        if p.exists():
            out[name] = xr.open_dataset(p)["sm"].load()
    return out


def write_report(results_path: str | Path, out: str | Path, case_path: str | Path | None = None) -> Path:
    """Render ``results_path`` into ``out`` (tables/, figures/, index.html); returns index.html."""
    results_path = Path(results_path)
    res = open_results(results_path)
    tables = all_tables(res)
    res = without_members(res)  # figures show products, not each ensemble member
    if not tables:
        raise InputError(results_path, "results hold no scores to report", "n")
    out = Path(out)
    with atomic_directory(out) as tmp:
        (tmp / "tables").mkdir()
        (tmp / "figures").mkdir()
        blocks = []
        for key, (caption, df) in tables.items():
            df.to_csv(tmp / "tables" / f"{key}.csv")
            (tmp / "tables" / f"{key}.md").write_text(f"**{caption}**\n\n" + to_markdown(df), encoding="utf-8")
            (tmp / "tables" / f"{key}.tex").write_text(to_latex(df, caption), encoding="utf-8")
            (tmp / "tables" / f"{key}.html").write_text(to_html(df, caption), encoding="utf-8")
            blocks.append(to_html(df, caption))
        figs: list[tuple[str, Path | None]] = []
        if case_path is not None and Path(case_path).exists():
            from ..case import open_case

            prods = _products(results_path, res)
            if prods:
                figs.append(
                    (
                        "Maps of one test day",
                        figures.maps_figure(open_case(case_path), prods, tmp / "figures" / "maps.png"),
                    )
                )
        figs.append(("Station time series", figures.station_series_figure(res, tmp / "figures" / "station_series.png")))
        figs.append(("Taylor diagram", figures.taylor_figure(res, tmp / "figures" / "taylor.png")))
        figs.append(
            (
                "Per-network station ubRMSE",
                figures.network_boxplot_figure(res, tmp / "figures" / "network_boxplots.png"),
            )
        )
        figs.append(("Score against truth by gap age", figures.gap_age_figure(res, tmp / "figures" / "gap_age.png")))
        figs.append(
            (
                "DrcGAN training: training L1 and validation RMSE (selected step marked)",
                figures.training_figure(res, tmp / "figures" / "training.png"),
            )
        )
        notes = json.loads(res.attrs.get("notes", "[]"))
        page = [
            "<!doctype html><html><head><meta charset='utf-8'><title>stsg-bench report</title>",
            f"<style>{CSS}</style></head><body>",
            f"<h1>stsg-bench report: {html.escape(str(res.attrs.get('case', '')))}</h1>",
            f"<p>training period {html.escape(str(res.attrs.get('train_period', '?')))}, test period "
            f"{html.escape(str(res.attrs.get('test_period', '?')))}; SMAP quality rule "
            f"'{html.escape(str(res.attrs.get('smap_quality_rule', '')))}'; bias = product − reference; "
            "units m³ m⁻³ (R dimensionless).</p>",
            *blocks,
        ]
        for title, path in figs:
            if path is not None:
                page.append(f"<h2>{html.escape(title)}</h2><img src='figures/{path.name}' alt='{html.escape(title)}'>")
        if notes:
            page.append("<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
        page.append("</body></html>")
        (tmp / "index.html").write_text("\n".join(page), encoding="utf-8")
    return out / "index.html"
