"""What the reproducible CPU kernels cost: the demo DrcGAN fit in each kernel mode, in one run.

    python benchmarks/kernel_cost.py [--steps 300] [--preset realistic] [--out DIR]

Each mode runs in its own process (the kernels are pinned before torch's first operation): ``stsg-bench
[--kernels K] [--threads N] fuse --method drcgan`` with the demo config (``--steps`` of them, the demo's
L1 / full-step mix) on the twin, and the training time (``fit_seconds``) is read from the product. Run it
on an otherwise idle machine; the table is in docs/reproducibility.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import xarray as xr

MODES = [("fast", None), ("fast", 1), ("reproducible", 1), ("reproducible", 2)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--preset", default="realistic")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    d = Path(args.out or tempfile.mkdtemp(prefix="kernel_cost_"))
    cli = [sys.executable, "-m", "stsg_bench.cli"]
    if not (d / "twin" / "case.nc").exists():
        subprocess.run(cli + ["twin", "--preset", args.preset, "--out", str(d / "twin")], check=True)
    (d / "drcgan.toml").write_text(f'method = "drcgan"\npreset = "demo"\n[config]\nsteps = {args.steps}\n')
    env = {k: v for k, v in os.environ.items() if k not in ("STSG_KERNELS", "STSG_THREADS")}
    rows = []
    for mode, n in MODES:
        out = d / f"p_{mode}_{n or 'auto'}.nc"
        cmd = cli + ["--kernels", mode] + (["--threads", str(n)] if n else [])
        cmd += ["fuse", "--method", "drcgan", "--case", str(d / "twin" / "case.nc"), "--out", str(out)]
        cmd += ["--config", str(d / "drcgan.toml"), "--overwrite"]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, env=env, capture_output=True)
        wall = time.perf_counter() - t0
        with xr.open_dataset(out) as ds:
            fit = float(ds.attrs["fit_seconds"])
            kernels = ds["sm"].attrs["kernels"]
        rows.append((mode, n or "auto", fit, wall, kernels))
    base = rows[0][2]
    print(f"demo DrcGAN fit, {args.steps} steps, twin '{args.preset}'")
    print("| kernels | threads | fit s | x fast (auto threads) | command wall s | kernel state |")
    print("|---|---|---|---|---|---|")
    for mode, n, fit, wall, kernels in rows:
        print(f"| {mode} | {n} | {fit:.1f} | {fit / base:.2f} | {wall:.1f} | {kernels} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
