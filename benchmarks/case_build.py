"""Archive-scale case build: days per second and peak memory of ``stsg-bench case CARD --chunk-days N``
on a synthetic native global archive (SPL3SMP HDF5 + GLDAS nc4, written by the package's own writers:
``stsg_bench.twin.native``) of 30, 90 and 365 days.

    python benchmarks/case_build.py --out /tmp/case_build [--days 30 90 365] [--chunk-days 32]

Each build runs in its own process tree (``processes`` scheduler, the machine's usable CPUs); the peak
memory is the largest sum of the resident sets of the whole tree, sampled every 0.1 s (psutil). The
archive's files are hard links to 7 distinct days, so after the first pass they are read from the page
cache: the figures are decode + regrid + write cost, not disk bandwidth.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil

from stsg_bench.twin.native import write_native_archive

START = "2017-01-01"


def tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def run_build(card: Path, out: Path, chunk_days: int) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "stsg_bench.cli",
        "case",
        str(card),
        "--out",
        str(out),
        "--chunk-days",
        str(chunk_days),
    ]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ps = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss(ps))
        time.sleep(0.1)
    seconds = time.perf_counter() - t0
    stdout, stderr = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"build failed: {stderr[-2000:]}")
    return {"seconds": round(seconds, 1), "peak_rss_mib": round(peak / 2**20), "stdout": stdout.strip()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--days", type=int, nargs="+", default=[30, 90, 365])
    ap.add_argument("--chunk-days", type=int, default=32)
    args = ap.parse_args()
    archive = args.out / "archive"
    if not (archive / "smap").is_dir():
        write_native_archive(archive, START, max(args.days))
    rows = []
    for n in args.days:
        end = str((pd.Timestamp(START) + pd.Timedelta(days=n - 1)).date())
        card = args.out / f"global_{n}.toml"
        subprocess.run(
            [sys.executable, "-m", "stsg_bench.cli", "card", "new", f"global{n}", "--bbox", "-180", "-85", "180", "85",
             "--period", START, end, "--smap", str(archive / "smap"), "--gldas", str(archive / "gldas"),
             "--out", str(card), "--overwrite"],
            check=True, capture_output=True,
        )  # fmt: skip
        out = args.out / f"case_{n}"
        r = run_build(card, out, args.chunk_days)
        subprocess.run(["rm", "-rf", str(out)], check=True)
        rows.append({"days": n, **r, "days_per_s": round(n / r["seconds"], 2)})
        print(
            f"{n:4d} days: {r['seconds']:7.1f} s, {n / r['seconds']:.2f} days/s, peak {r['peak_rss_mib']} MiB",
            flush=True,
        )
    (args.out / "case_build.json").write_text(json.dumps(rows, indent=1))
    by = {r["days"]: r for r in rows}
    if 90 in by and 365 in by:
        print(f"peak at 365 days / peak at 90 days: {by[365]['peak_rss_mib'] / by[90]['peak_rss_mib']:.2f}")


if __name__ == "__main__":
    main()
