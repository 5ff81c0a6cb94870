"""Archive-scale benchmark: CDF matching + STARFM + scoring on the synthetic ``global`` twin (406 x 964)
over 90 and over 365 days, each in a fresh process; peak memory must not grow with the period.

    python benchmarks/scale.py --work /tmp/scale [--days 90 365] [--scheduler threads] [--chunk-days 32]

Generates the twin once (``stsg-bench twin --preset global``, one file per 32 days), then runs
``stsg-bench scale`` per period and prints a markdown table from each run's ``scale_summary.json``
(wall seconds per stage, days per second, peak resident memory of the process).
Slow by design (minutes): not part of asv's default run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd


def _run(cmd: list[str]) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--days", type=int, nargs="+", default=[90, 365])
    ap.add_argument("--scheduler", default="threads")
    ap.add_argument("--chunk-days", type=int, default=32)
    args = ap.parse_args(argv)
    cli = [sys.executable, "-m", "stsg_bench.cli"]
    twin = args.work / "twin"
    if not (twin / "case").is_dir():
        _run(
            cli
            + ["twin", "--preset", "global", "--days", str(max(args.days)), "--chunk-days", "32", "--out", str(twin)]
        )
    start = pd.Timestamp("2017-01-01")
    rows = []
    for d in args.days:
        out = args.work / f"run_{d}d"
        end = start + pd.Timedelta(days=d - 1)
        _run(
            cli
            + [
                "scale",
                str(twin / "case"),
                "--insitu",
                str(twin / "ismn"),
                "--out",
                str(out),
                "--period",
                str(start.date()),
                str(end.date()),
                "--scheduler",
                args.scheduler,
                "--chunk-days",
                str(args.chunk_days),
            ]
        )
        rows.append(json.loads((out / "scale_summary.json").read_text()))
    print(
        "\n| days | CDF fit s | CDF predict+write s | STARFM predict+write s | scoring s | total s | days/s "
        "| peak RSS MiB |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        s = r["seconds"]
        print(
            f"| {r['days']} | {s['lin_cdf_match_fit_s']} | {s['lin_cdf_match_predict_s']} | {s['starfm_predict_s']} | "
            f"{s['score_s']} | {s['total_s']} | {r['days_per_second']} | {r['peak_rss_mb']} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
