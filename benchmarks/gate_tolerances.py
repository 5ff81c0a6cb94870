"""Gate tolerances from the measured spread of every gated quantity.

Run the gate case with other DrcGAN training seeds and with other CPU kernels (e.g. ``kernels = "fast"``
here, and under an AVX2-only machine's settings), then::

    python benchmarks/gate_tolerances.py stsg_bench/resources/reference/results.nc VARIANT1/results.nc ... \\
        --out stsg_bench/resources/reference/spread.nc

writes ``spread(method, reference, split, metric)``: the largest absolute change of each gated quantity
(pooled group, window ``all``) from the reference to any variant - an upper bound of the change of its
"badness" (|bias|, -R, RMSE, ...) that the gate compares. ``stsg-bench check`` allows each check
``spread_factor`` (tolerances.toml, default 1.5) times its spread, and never less than the metric's floor
(tolerances.toml). The table printed shows, per metric, the largest and the 95th-percentile spread over
the checks and which check set the largest.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from stsg_bench.reports.gate import compare
from stsg_bench.validation import open_results
from stsg_bench.validation.metrics import METRICS


def spread(reference: Path, variants: list[Path]) -> pd.DataFrame:
    """Every gated check of every variant against the reference (``change`` = variant - reference)."""
    ref = open_results(reference)
    zero = {k: 0.0 for k in METRICS}
    rows = []
    for v in variants:
        table = compare(open_results(v), ref, zero).table
        table = table[table["status"] != "MISSING"].copy()
        table["variant"] = str(v)
        rows.append(table)
    return pd.concat(rows, ignore_index=True)


def spread_array(table: pd.DataFrame) -> xr.DataArray:
    """Largest |change| per (product, reference, split, metric) over the variants."""
    g = table.groupby(["product", "reference", "split", "metric"])["abs_change"].max()
    return xr.DataArray.from_series(g).rename("spread")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("reference", type=Path)
    ap.add_argument("variants", type=Path, nargs="+")
    ap.add_argument("--out", type=Path, default=None, help="write the spread netCDF (reference/spread.nc)")
    args = ap.parse_args(argv)
    table = spread(args.reference, args.variants)
    table["abs_change"] = table["change"].astype(float).abs()
    # a quantity that a rerun made undefined (e.g. a triple collocation turning degenerate) has no bound:
    # infinite spread, so the gate lists it but cannot fail on it
    undefined = table["new_value"].isna() & table["reference_value"].notna()
    table.loc[undefined, "abs_change"] = np.inf
    table = table[table["abs_change"].notna()]
    print("| metric | largest spread | 95th percentile | median | largest at | checks a rerun made undefined |")
    print("|---|---|---|---|---|---|")
    for metric, g in table.groupby("metric"):
        n_undefined = int(np.isinf(g["abs_change"]).sum())
        g = g[np.isfinite(g["abs_change"])]
        worst = g.loc[g["abs_change"].idxmax()]
        moved = g[g["abs_change"] > 0]["abs_change"]
        print(
            f"| {metric} | {worst['abs_change']:.4g} | {np.percentile(g['abs_change'], 95):.4g} | "
            f"{np.median(moved) if len(moved) else 0:.4g} | {worst['product']} {worst['reference']} {worst['split']} | "
            f"{n_undefined} |"
        )
    if args.out is not None:
        da = spread_array(table)
        ds = da.to_dataset()
        ds.attrs.update(
            {
                "title": "stsg-bench gate: measured spread of every gated quantity",
                "variants": " ".join(str(v) for v in args.variants),
                "comment": "largest |variant - reference| over reruns with other seeds and CPU kernels",
            }
        )
        ds.to_netcdf(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
