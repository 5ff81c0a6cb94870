"""Every GPU figure of the fusion core in one run, written as a Markdown table.

    python benchmarks/gpu_report.py --device cuda --out gpu_report.md          # the H100/H200 run
    python benchmarks/gpu_report.py --device cpu --tier tiny --quick           # the CPU smoke test (CI)

Measured, each with a warm-up and the median of repeated runs (CUDA events synchronised):

* the bf16 (and fp32/TF32) matmul rate of this device: the peak the other rows are a fraction of;
* DrcGAN generator inference per field (paper and demo configs; fp32/TF32 and bf16; batch 1 and 8;
  eager, channels_last, ``torch.compile`` and CUDA graphs), with the FLOPs of one field counted by
  ``torch.utils.flop_counter`` -> achieved TFLOP/s and the fraction of the measured matmul peak;
* one training step of the full GAN (G, F, both discriminators; batch 8, 256x256 crops, bf16);
* streaming inference over ``--days`` global days *including input building*, with inputs built on the
  device and on the host: fields/s, peak GPU memory, and the time this rate gives for the 2015-2023
  archive (3,160 days);
* STARFM on one global day; the fused scoring kernel on 1000 stations x 3000 days x 8 products.

A failing row is reported as failed (with the reason) and the run goes on: GPU time is scarce.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import platform
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmarks.bench_fusion import in_channels  # noqa: E402
from benchmarks.common import TIERS, fields  # noqa: E402

ARCHIVE_DAYS = 3160


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timeit(fn: Callable[[], object], device: torch.device, min_time: float, warmup: int = 2) -> float:
    """Median seconds of one call (after ``warmup`` calls), repeated for at least ``min_time`` s."""
    for _ in range(warmup):
        fn()
    sync(device)
    times: list[float] = []
    start = time.perf_counter()
    while not times or (time.perf_counter() - start < min_time and len(times) < 200):
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


class Report:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str]] = []

    def add(self, name: str, params: str, result: str) -> None:
        self.rows.append((name, params, result))
        print(f"{name:28s} {params:60s} {result}", flush=True)

    def attempt(self, name: str, params: str, fn: Callable[..., str], *args) -> None:
        try:
            self.add(name, params, fn(*args))
        except Exception as exc:  # keep going: one failing row must not cost the whole GPU run
            reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}"
            self.add(name, params, f"failed ({reason})")
            traceback.print_exc(limit=2)

    def markdown(self, header: list[str]) -> str:
        lines = header + ["", "| benchmark | parameters | result |", "|---|---|---|"]
        lines += [f"| {a} | {b} | {c} |" for a, b, c in self.rows]
        return "\n".join(lines) + "\n"


def matmul_peak(device: torch.device, dtype: torch.dtype, n: int, min_time: float) -> float:
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    s = timeit(lambda: a @ b, device, min_time)
    return 2 * n**3 / s / 1e12


def generator(config: str, device: torch.device, channels_last: bool) -> torch.nn.Module:
    from stsg_bench.fusion.config import PRESETS
    from stsg_bench.fusion.networks import ResnetGenerator

    cfg = PRESETS[config]
    g = (
        ResnetGenerator(in_channels(config), 1, cfg.networks.ngf, cfg.networks.n_blocks, cfg.networks.norm)
        .to(device)
        .eval()
    )
    return g.to(memory_format=torch.channels_last) if channels_last else g


def field_flops(g: torch.nn.Module, x: torch.Tensor) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc, torch.no_grad():
        g(x[:1].float())
    return float(fc.get_total_flops())


def inference_row(
    config: str,
    precision: str,
    batch: int,
    mode: str,
    shape: tuple[int, int],
    device: torch.device,
    min_time: float,
    peak: float,
) -> str:
    from stsg_bench.fusion.inputs import pad4

    cl = mode != "eager"
    g = generator(config, device, cl)
    x = torch.randn(batch, in_channels(config), pad4(shape[0]), pad4(shape[1]), device=device)
    if cl:
        x = x.contiguous(memory_format=torch.channels_last)
    flops = field_flops(g, x)
    autocast = (
        (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if precision == "bf16" else contextlib.nullcontext
    )
    fn = g
    if mode in ("compile", "compile+cudagraphs"):
        fn = torch.compile(g, mode="reduce-overhead" if mode == "compile+cudagraphs" else "max-autotune-no-cudagraphs")

    def run():
        with torch.no_grad(), autocast():
            return fn(x)

    if mode == "cudagraphs":  # manual capture: static input, one replay per call
        with torch.no_grad(), autocast():
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                for _ in range(3):
                    g(x)
            torch.cuda.current_stream().wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                g(x)
        run = graph.replay  # noqa: F811
    s = timeit(run, device, min_time, warmup=3)
    ms = s / batch * 1e3
    tflops = flops * batch / s / 1e12
    frac = f", {100 * tflops / peak:.0f}% of the bf16 matmul peak" if peak > 0 else ""
    return f"{ms:.3f} ms/field ({tflops:.3g} TFLOP/s{frac}; {flops / 1e9:.3g} GFLOP/field)"


def synthetic_case(shape: tuple[int, int], days: int, row0: int = 0, col0: int = 0):
    import pandas as pd

    from stsg_bench.case import make_case
    from stsg_bench.grid import Window

    smap, noah, valid, land = fields(shape, days)
    times = pd.date_range("2017-01-01", periods=days)
    return make_case(Window(row0, row0 + shape[0], col0, col0 + shape[1]), times, smap, valid, noah, land)


def train_step_row(config: str, crop: int, batch: int, device: torch.device, min_time: float) -> str:
    from stsg_bench.fusion import Trainer, get_config

    side = max(crop + 16, 64)
    case = synthetic_case((side, side), 40)
    cfg = get_config(config, crop=crop, batch_size=batch, sim_gap_fraction=0.0, persistent_gap_fraction=0.0)
    tr = Trainer(cfg, case, device=str(device))
    b = tr.sample_batch()
    s = timeit(lambda: tr._train_step(b), device, min_time)
    return f"{s * 1e3:.1f} ms/step"


def streaming_row(config: str, shape: tuple[int, int], days: int, device: torch.device, device_inputs: str) -> str:
    from stsg_bench.fusion import Trainer, get_config
    from stsg_bench.fusion.infer import FusionModel, predict_case

    small = synthetic_case((64, 64), 30)
    cfg = get_config(config, steps=1, crop=16, batch_size=2, device_inputs=device_inputs, infer_batch=8)
    state = Trainer(cfg, small).state_dict()
    model = FusionModel.from_state(state, str(device))
    case = synthetic_case(shape, days)
    predict_case(model, case.isel(time=slice(0, min(days, 10))))  # warm-up
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    sync(device)
    t0 = time.perf_counter()
    predict_case(model, case)
    sync(device)
    s = time.perf_counter() - t0
    mem = (
        f", peak GPU memory {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB" if device.type == "cuda" else ""
    )
    return f"{days / s:.1f} fields/s ({s:.2f} s; {ARCHIVE_DAYS} days -> {ARCHIVE_DAYS * s / days:.1f} s{mem})"


def starfm_row(shape: tuple[int, int], device: torch.device, min_time: float) -> str:
    from stsg_bench.composites import next_composite, previous_composite
    from stsg_bench.methods.starfm import starfm_day

    smap, noah, valid, _ = fields(shape, 9)
    prev, nxt = previous_composite(smap, noah, valid, days=[4]), next_composite(smap, noah, valid, days=[4])
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(device)  # noqa: E731
    p, n = (t(prev.smap[0]), t(prev.noah[0]), t(prev.age[0])), (t(nxt.smap[0]), t(nxt.noah[0]), t(nxt.age[0]))
    noah_t = t(noah[4])
    rows = 4096 if device.type == "cuda" else 128
    s = timeit(lambda: starfm_day(noah_t, p, n, 7, 4, 0.002, rows), device, min_time)
    return f"{s * 1e3:.2f} ms/day"


def scoring_row(stations: int, days: int, products: int, device: torch.device, min_time: float) -> str:
    from stsg_bench.validation.metrics import _fused_kernel

    fn = _fused_kernel()
    if fn is None:
        raise RuntimeError("torch.compile is not available here")
    rng = np.random.default_rng(0)
    p = torch.from_numpy(rng.random((products, days, stations), dtype=np.float32)).to(device)
    r = torch.from_numpy(rng.random((days, stations))).to(device)
    v = torch.from_numpy(rng.random((days, stations)) < 0.5).to(device)
    kp, kr = (torch.tensor(0.5, dtype=torch.float64, device=device) for _ in range(2))  # the sums' shifts
    s = timeit(lambda: fn(p, r, v, kp, kr, 1), device, min_time)
    return f"{s * 1e3:.2f} ms ({products * days * stations / s / 1e9:.2f} G pairs/s)"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--tier", default="global", choices=list(TIERS), help="field size of the inference rows")
    ap.add_argument("--days", type=int, default=365, help="days of the streaming rows")
    ap.add_argument(
        "--quick", action="store_true", help="one combination per row family, short timings (CPU smoke test)"
    )
    ap.add_argument("--out", type=Path, default=None, help="write the Markdown table here too")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("gpu_report: error: --device cuda but no CUDA GPU is available", file=sys.stderr)
        return 2
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True  # fp32 rows run as TF32 on the tensor cores
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    shape = TIERS[args.tier]
    min_time = 0.2 if args.quick else 1.0
    rep = Report()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    cuda = torch.version.cuda if device.type == "cuda" else "-"
    header = [
        f"# stsg-bench GPU report ({dt.date.today().isoformat()})",
        "",
        f"device: {name} ({args.device}); torch {torch.__version__}, CUDA {cuda}; fields {shape[0]}x{shape[1]}; "
        f"threads {torch.get_num_threads()}",
    ]

    peak = 0.0
    n = 8192 if device.type == "cuda" else 512
    for dtype in (torch.bfloat16, torch.float32):
        label = {torch.bfloat16: "bf16", torch.float32: "fp32 (TF32 on CUDA)"}[dtype]
        try:
            rate = matmul_peak(device, dtype, n, min_time)
            peak = rate if dtype == torch.bfloat16 else peak
            rep.add("matmul peak", f"{label}, {n}x{n}", f"{rate:.3g} TFLOP/s")
        except Exception as exc:
            rep.add("matmul peak", f"{label}, {n}x{n}", f"failed ({type(exc).__name__})")

    configs = ["demo"] if args.quick else ["demo", "paper"]
    precisions = ["fp32"] if args.quick or device.type != "cuda" else ["fp32", "bf16"]
    batches = [1] if args.quick else [1, 8]
    modes = ["eager", "channels_last"]
    if device.type == "cuda":
        modes += ["compile", "cudagraphs", "compile+cudagraphs"]
    for config in configs:
        for precision in precisions:
            for batch in batches:
                for mode in modes:
                    params = f"{config}, {precision}, batch {batch}, {mode}"
                    rep.attempt(
                        "generator inference",
                        params,
                        inference_row,
                        config,
                        precision,
                        batch,
                        mode,
                        shape,
                        device,
                        min_time,
                        peak,
                    )

    crop, batch = (256, 8) if device.type == "cuda" and not args.quick else (32, 2)
    for config in configs:
        rep.attempt(
            "GAN training step",
            f"{config}, batch {batch}, {crop}x{crop} crops" + (", bf16" if device.type == "cuda" else ""),
            train_step_row,
            config,
            crop,
            batch,
            device,
            min_time,
        )

    days = min(args.days, 20) if args.quick else args.days
    for config in configs:
        for inputs in ["always", "never"] if device.type == "cuda" or not args.quick else ["always"]:
            where = "on the device" if inputs == "always" else "on the host (numpy)"
            rep.attempt(
                "streaming inference",
                f"{config}, {days} days, inputs built {where}",
                streaming_row,
                config,
                shape,
                days,
                device,
                inputs,
            )

    rep.attempt("STARFM day", f"two-sided, window 7, {shape[0]}x{shape[1]}", starfm_row, shape, device, min_time)
    sc = (100, 300, 8) if args.quick else (1000, 3000, 8)
    rep.attempt(
        "scoring (fused kernel)",
        f"{sc[0]} stations x {sc[1]} days x {sc[2]} products",
        scoring_row,
        *sc,
        device,
        min_time,
    )

    text = rep.markdown(header)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    print()
    print(text)
    return 1 if any(r[2].startswith("failed") for r in rep.rows) and args.quick else 0


if __name__ == "__main__":
    sys.exit(main())
