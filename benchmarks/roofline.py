"""Roofline view of the DrcGAN forward generator: FLOPs per field (torch.utils.flop_counter) x measured
fields/s = achieved FLOP/s, compared with the device's peak (measured with a large matmul, or given).

    python benchmarks/roofline.py --device cuda --tier global --out roofline.png [--peak-tflops 790]
"""

from __future__ import annotations

import argparse
import contextlib
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from torch.utils import benchmark as tb  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from stsg_bench.fusion.config import PRESETS  # noqa: E402
from stsg_bench.fusion.inputs import pad4  # noqa: E402
from stsg_bench.fusion.networks import ResnetGenerator  # noqa: E402

TIERS = {"tiny": (32, 32), "regional": (128, 128), "global": (406, 964)}


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def matmul_peak(dev, dtype) -> float:
    n = 4096 if dev.type == "cuda" else 2048
    a = torch.randn(n, n, device=dev, dtype=dtype)
    m = tb.Timer("a @ a; s()", globals={"a": a, "s": lambda: sync(dev)}).blocked_autorange(min_run_time=1.0)
    return 2 * n**3 / m.median / 1e12


def measure(dev, tier, config, dtype, batch):
    cfg = PRESETS[config]
    g = ResnetGenerator(12, 1, cfg.networks.ngf, cfg.networks.n_blocks).to(dev).eval()
    Y, X = TIERS[tier]
    x = torch.randn(batch, 12, pad4(Y), pad4(X), device=dev)
    if dev.type == "cuda":
        g, x = g.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    ctx = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if dtype == "bf16" else contextlib.nullcontext
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        g(x[:1])
    flops = fc.get_total_flops()

    def run():
        with torch.no_grad(), ctx():
            g(x)

    run()
    m = tb.Timer("f(); s()", globals={"f": run, "s": lambda: sync(dev)}).blocked_autorange(min_run_time=1.0)
    fields_s = batch / m.median
    return {
        "tier": tier,
        "config": config,
        "dtype": dtype,
        "batch": batch,
        "gflop_per_field": flops / 1e9,
        "ms_per_field": 1e3 / fields_s,
        "achieved_tflops": flops * fields_s / 1e12,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--tier", default="regional", choices=list(TIERS))
    ap.add_argument("--peak-tflops", type=float, default=None, help="device peak (default: measured matmul)")
    ap.add_argument("--out", default="roofline.png")
    args = ap.parse_args()
    dev = torch.device(args.device)
    dtypes = ["fp32", "bf16"] if dev.type == "cuda" else ["fp32"]
    rows = [measure(dev, args.tier, c, d, b) for c in ("demo", "paper") for d in dtypes for b in (1, 8)]
    peak = args.peak_tflops or matmul_peak(dev, torch.bfloat16 if dev.type == "cuda" else torch.float32)
    for r in rows:
        r["fraction_of_peak"] = r["achieved_tflops"] / peak
    print(json.dumps({"device": str(dev), "peak_tflops": peak, "rows": rows}, indent=1))
    fig, ax = plt.subplots(figsize=(7, 3.5))
    labels = [f"{r['config']}/{r['dtype']}/b{r['batch']}" for r in rows]
    ax.bar(labels, [r["achieved_tflops"] for r in rows], color="tab:blue")
    ax.axhline(peak, color="k", ls="--", label=f"peak {peak:.2f} TFLOP/s")
    for i, r in enumerate(rows):
        ax.text(
            i,
            r["achieved_tflops"],
            f"{100 * r['fraction_of_peak']:.0f}%\n{r['ms_per_field']:.1f} ms",
            ha="center",
            va="bottom",
            fontsize=7,
        )
    ax.set_ylabel("achieved TFLOP/s")
    ax.set_title(f"DrcGAN generator, {args.tier} field, {dev}")
    ax.legend(fontsize=8)
    fig.savefig(args.out, dpi=110, bbox_inches="tight")


if __name__ == "__main__":
    main()
