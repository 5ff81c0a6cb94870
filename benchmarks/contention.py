"""Contention benchmark for the thread policy (not a timed test: minutes per run).

    python benchmarks/contention.py --out contention.md [--skip-demos]

(a) DrcGAN training step time (demo config, small twin) alone and beside one busy competing process
    (a pure-Python busy loop), with torch's default threads (what the suite did before the thread policy)
    and with the policy (``stsg_bench.threads.configure()``, as the CLI applies it);
(b) ``stsg-bench demo --preset gate`` alone, and two of them started together (wall time of the pair).

Each measurement runs in a fresh process. Targets (issue 20): (a) beside a busy process <= 2.5x alone;
(b) the pair within 2.3x one alone; the policy's speed alone not worse than torch's default.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUSY = "while True:\n    pass\n"
STEP = """
import json, time
policy = {policy!r}
if policy:
    from stsg_bench import threads
    threads.configure()
import torch
from stsg_bench.fusion import Trainer, get_config
from stsg_bench.twin import generate_twin
case = generate_twin("small", seed=0).case
tr = Trainer(get_config("demo"), case, ("2017-01-01", "2017-12-31"))
for _ in range(2):
    tr.train_step()
times, start = [], time.perf_counter()
while len(times) < {steps} and time.perf_counter() - start < {budget}:
    if policy:
        threads.refresh()
    t0 = time.perf_counter()
    tr.train_step()
    times.append(time.perf_counter() - t0)
print(json.dumps({{"s_per_step": sum(times) / len(times), "steps": len(times), "threads": torch.get_num_threads()}}))
"""


def step_time(policy: bool, busy: bool, steps: int, budget: float) -> dict:
    competitor = subprocess.Popen([sys.executable, "-c", BUSY]) if busy else None
    try:
        if competitor:
            time.sleep(1.0)
        code = STEP.format(policy=policy, steps=steps, budget=budget)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        if competitor:
            competitor.kill()


def demo_wall(n: int, work: Path) -> float:
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "stsg_bench.cli", "demo", "--preset", "gate", "--out", str(work / f"demo{n}_{i}")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(n)
    ]
    if any(p.wait() != 0 for p in procs):
        raise RuntimeError("a demo run failed")
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=10, help="timed training steps per measurement")
    ap.add_argument("--budget", type=float, default=60.0, help="at most this many seconds of timed steps each")
    ap.add_argument("--skip-demos", action="store_true", help="only part (a)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    lines = ["| measurement | threads | result |", "|---|---|---|"]
    a = {}
    for policy in (False, True):
        for busy in (False, True):
            r = step_time(policy, busy, args.steps, args.budget)
            a[policy, busy] = r["s_per_step"]
            label = f"(a) DrcGAN step, {'thread policy' if policy else 'torch default threads'}, " + (
                "beside one busy process" if busy else "alone"
            )
            lines.append(f"| {label} | {r['threads']} | {r['s_per_step']:.3f} s/step ({r['steps']} steps) |")
            print(lines[-1], flush=True)
    for policy in (False, True):
        lines.append(
            f"| (a) ratio beside busy / alone, {'thread policy' if policy else 'torch default'} | | "
            f"{a[policy, True] / a[policy, False]:.2f}x |"
        )
    if not args.skip_demos:
        with tempfile.TemporaryDirectory() as tmp:
            one = demo_wall(1, Path(tmp))
            lines.append(f"| (b) one `demo --preset gate` alone | policy | {one:.0f} s |")
            print(lines[-1], flush=True)
            two = demo_wall(2, Path(tmp))
            lines.append(
                f"| (b) two `demo --preset gate` started together | policy | {two:.0f} s = {two / one:.2f}x one |"
            )
            print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
