"""Gate tolerances from the measured spread of every gated quantity.

Run the gate case with other DrcGAN training seeds and with other CPU kernels (e.g. ``kernels = "fast"``
here, and under an AVX2-only machine's settings), then::

    python benchmarks/gate_tolerances.py reports/reference/results.nc VARIANT1/results.nc ... \\
        [--out reports/reference/tolerances.toml]

For each metric the tolerance is the largest absolute change of its value from the reference to any
variant (an upper bound of the change of its "badness", |bias|, -R, RMSE, ..., that the gate compares:
:func:`stsg_bench.reports.gate.compare`), over every gated check (pooled group, window ``all``, every
product, reference and split), rounded up to two significant digits. So a change that moves the numbers
no more than retraining with another seed or running on another CPU's kernels passes, and anything worse
than every variant fails somewhere. The table printed shows, per metric, the largest and the
95th-percentile change and which check set the largest.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pandas as pd

from stsg_bench.reports.gate import compare
from stsg_bench.validation import open_results
from stsg_bench.validation.metrics import METRICS


def round_up(x: float, digits: int = 2) -> float:
    if x <= 0 or not np.isfinite(x):
        return 0.0
    scale = 10 ** (digits - 1 - math.floor(math.log10(x)))
    return math.ceil(x * scale) / scale


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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("reference", type=Path)
    ap.add_argument("variants", type=Path, nargs="+")
    ap.add_argument("--out", type=Path, default=None, help="write a tolerances TOML")
    args = ap.parse_args(argv)
    table = spread(args.reference, args.variants)
    table["abs_change"] = table["change"].astype(float).abs()
    lines, tol = [], {}
    for metric, g in table.groupby("metric"):
        g = g[np.isfinite(g["abs_change"])]
        if g.empty:
            continue
        worst = g.loc[g["abs_change"].idxmax()]
        tol[metric] = round_up(float(worst["abs_change"]))
        lines.append(
            f"| {metric} | {worst['abs_change']:.4g} | {np.percentile(g['abs_change'], 95):.4g} | {tol[metric]:g} | "
            f"{worst['method']} {worst['reference']} {worst['split']} ({Path(str(worst['variant'])).parent.name}) |"
        )
    print("| metric | largest change | 95th percentile | tolerance | largest at |")
    print("|---|---|---|---|---|")
    print("\n".join(lines))
    if args.out is not None:
        body = "\n".join(f"{k} = {v:g}" for k, v in sorted(tol.items()))
        args.out.write_text(
            "# Allowed deterioration before the gate fails (absolute; m3 m-3 for bias/RMSE/ubRMSE, m6 m-6 for MSE\n"
            "# terms, R/rho/tau dimensionless, dB for SNR): the largest change of each metric over every gated\n"
            "# check when DrcGAN is retrained with other seeds or run with other CPU kernels\n"
            "# (benchmarks/gate_tolerances.py; measurements in reports/README.md).\n"
            f"[tolerances]\n{body}\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
