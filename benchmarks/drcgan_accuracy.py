"""DrcGAN's gap accuracy against the twin's truth, beside the baselines and an information ceiling.

    python benchmarks/drcgan_accuracy.py --preset realistic --seeds 90417 31337
    python benchmarks/drcgan_accuracy.py --preset small --seeds 27182 --methods starfm drcgan \\
        --train-seeds 0 1 2 --set steps=600

For each twin seed: generate the twin, fit every method on its training period (2017 for the
``realistic`` and ``small`` presets) and fill the days after it, then score the gap cells
(land, no usable SMAP) against the known truth with plain numpy, independently of
``stsg_bench.validation``: RMSE by gap age (days to the nearest usable SMAP value of the same cell) and
over all gaps, and each product's ratio to the best baseline (the best product that is not a DrcGAN
variant). ``--train-seeds`` trains each DrcGAN variant with several seeds (mean and sd of the gap RMSE).

Beside the methods: the pixelwise mean of the two best baselines of each twin seed (by their gap RMSE
there: a selection that looks at the truth, so a generous reference). ``ratios`` summarises, over the
twin seeds, each product's ratio to the best baseline of its seed, over all gaps and in the never-observed
bin (> 60 days from a usable SMAP value, against the best baseline *in that bin*): mean, a 95 %
t-interval across seeds, and the worst seed.

``--fit-seconds S`` trains DrcGAN for a documented time budget instead of its preset's step count: on
the first twin it times 10 training steps of the configured preset on its device (after 3 warm-up
steps) and sets the steps to what fits 85 % of ``S`` (the rest for validation and prediction; at most the
preset's own count), validating every 1/40 of them. This is the run the ``paper`` preset needs on a GPU
(its 20,000 steps take ~37 h on two CPU cores)::

    python benchmarks/drcgan_accuracy.py --preset realistic --seeds 80808 --methods starfm dctpls drcgan \
        --set preset=paper device=cuda --fit-seconds 300

``--oracle`` adds the *ceiling*: DrcGAN's generator (L1 only, the same inputs, architecture and budget)
trained against the **truth** on every land cell of the training days, gaps included: what this network
could reach if it were supervised by the truth instead of by SMAP. No real method has that supervision,
so a real method's score near the oracle's says the inputs, not the training, limit it.
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import xarray as xr

from stsg_bench.case import valid_smap
from stsg_bench.fusion import Trainer, get_config
from stsg_bench.fusion.infer import FusionModel, predict_case
from stsg_bench.fusion.inputs import pad4
from stsg_bench.methods import get_method, list_methods, method_class
from stsg_bench.methods.base import visible_case
from stsg_bench.twin import generate_twin

Period = tuple[str, str]
AGE_BINS = ((1, 1), (2, 3), (4, 7), (8, 30), (31, 60), (61, None))
#: DrcGAN and its registered variants (ablations and the warm-started schedule)
DRCGAN = tuple(n for n in list_methods() if n == "drcgan" or method_class(n).ablation_of == "drcgan")
MEAN2 = "mean of the 2 best baselines"


def periods(case: xr.Dataset) -> tuple[Period, Period]:
    """The twin's training period (up to its ``train_end``) and the days after it."""
    days = [str(t)[:10] for t in case["time"].values]
    end = case.attrs["train_end"]
    after = [d for d in days if d > end]
    return (days[0], end), (after[0], after[-1])


def gap_age(case: xr.Dataset) -> np.ndarray:
    """(T, Y, X) days to the nearest usable SMAP value of the same cell (before or after; 0 on SMAP days)."""
    valid = valid_smap(case).values
    T = valid.shape[0]
    day = np.arange(T).reshape(-1, 1, 1)
    last = np.maximum.accumulate(np.where(valid, day, -(10**6)), axis=0)
    nxt = np.minimum.accumulate(np.where(valid, day, 10**6)[::-1], axis=0)[::-1]
    return np.minimum(day - last, nxt - day)


@dataclass
class GapScorer:
    """Gap cells of the test period, their truth and their age."""

    truth: np.ndarray
    gaps: np.ndarray
    age: np.ndarray

    @classmethod
    def of(cls, case: xr.Dataset, test: Period) -> GapScorer:
        index = case.indexes["time"].get_indexer(case.sel(time=slice(*test)).indexes["time"])
        test = case.isel(time=index)
        gaps = ~valid_smap(test).values & test["land"].values[None]
        return cls(test["truth"].values.astype(np.float64), gaps, gap_age(case)[index])

    def rmse(self, product: np.ndarray, lo: int = 1, hi: int | None = None) -> float:
        sel = self.gaps & (self.age >= lo) & (self.age <= (hi if hi is not None else np.inf))
        err = np.asarray(product, dtype=np.float64)[sel] - self.truth[sel]
        return float(np.sqrt(np.mean(err**2))) if err.size else float("nan")

    def row(self, product: np.ndarray) -> list[float]:
        return [self.rmse(product, lo, hi) for lo, hi in AGE_BINS] + [self.rmse(product)]

    def counts(self) -> list[int]:
        inf = np.iinfo(np.int64).max
        return [int((self.gaps & (self.age >= lo) & (self.age <= (hi or inf))).sum()) for lo, hi in AGE_BINS] + [
            int(self.gaps.sum())
        ]


def fit_and_fill(trainer: Trainer, case: xr.Dataset, visible: xr.Dataset, test: Period) -> np.ndarray:
    """Train ``trainer`` and fill the test period of ``case`` (``visible``: without its truth) with its
    generator, usable SMAP passed through."""
    trainer.fit()
    field_ = predict_case(FusionModel.from_state(trainer.state_dict()), visible, test)
    out = case.sel(time=slice(*test))
    usable = valid_smap(out).values
    return np.where(usable, out["smap"].values, np.where(out["land"].values[None], field_, np.nan))


def budget_overrides(case: xr.Dataset, train: Period, overrides: dict, seconds: float) -> dict:
    """``overrides`` with the step count that trains ``drcgan`` (its preset and device as ``overrides``
    say) in about ``seconds``: 10 steps timed after 3 warm-up steps on a throwaway trainer, 85 % of the
    budget for steps, at most the preset's own count; validation every 1/40 of the steps (at least the
    preset's interval)."""
    m = get_method("drcgan", **overrides)
    device = m.config.device
    trainer = Trainer(m.model_config(m.config.seed), visible_case(case), train, device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    for _ in range(3):
        trainer.train_step()
    sync()
    t0 = time.perf_counter()
    for _ in range(10):
        trainer.train_step()
    sync()
    per_step = (time.perf_counter() - t0) / 10
    steps = int(min(m.config.optimiser.steps, max(10, 0.85 * seconds / per_step)))
    val_every = max(m.config.selection.val_every, steps // 40)
    logging.info(
        "budget %.0f s: %.3f s per training step on %s -> %d steps (the preset's: %d), validation every %d",
        seconds,
        per_step,
        device,
        steps,
        m.config.optimiser.steps,
        val_every,
    )
    return {**overrides, "steps": steps, "val_every": val_every}


def oracle_product(case: xr.Dataset, train: Period, test: Period, overrides: dict) -> np.ndarray:
    """The ceiling: DrcGAN's generator trained (L1 alone) against the truth on every land cell of the
    training days, gaps included; predicts the test period, usable SMAP passed through."""
    fixed = {"same_day": False, "lambda_adv": 0.0, "lambda_cyc": 0.0, "lambda_rev": 0.0, "val_fraction": 0.0}
    cfg = get_config("demo", **{**overrides, **fixed})  # no validation: SMAP is not what it learns
    visible = visible_case(case)
    trainer = Trainer(cfg, visible, train)
    truth = case.sel(time=slice(*train))["truth"].values
    T, Y, X = truth.shape
    pad = ((0, 0), (0, pad4(Y) - Y), (0, pad4(X) - X))
    target = np.pad(np.nan_to_num(truth), pad).astype(np.float32)
    land = np.pad(case["land"].values, pad[1:])
    for view in trainer.views:
        view.target, view.target_valid = target, np.broadcast_to(land, target.shape).copy()
    return fit_and_fill(trainer, case, visible, test)


def smoothed_target_product(case: xr.Dataset, train: Period, test: Period, overrides: dict, size: int) -> np.ndarray:
    """``drcgan`` (the demo preset and ``overrides``) trained against a *denoised* SMAP: each usable SMAP
    value replaced by the mean of the usable values of the same day in the ``size`` x ``size`` cells
    around it (SMAP's error is partly white in space, so the mean is nearer the truth). Inputs, selection
    (raw SMAP of the held-out days) and inference as the product; predicts the test period, usable SMAP
    passed through."""
    from scipy.ndimage import uniform_filter

    visible = visible_case(case)
    trainer = Trainer(get_config("demo", **overrides), visible, train)
    for view in trainer.views:
        valid = view.target_valid.astype(np.float64)
        total = uniform_filter(np.where(view.target_valid, view.target, 0.0).astype(np.float64), (1, size, size))
        count = uniform_filter(valid, (1, size, size))
        view.target = np.where(view.target_valid, total / np.maximum(count, 1e-9), 0.0).astype(view.target.dtype)
    return fit_and_fill(trainer, case, visible, test)


@dataclass
class Table:
    rows: dict[str, list[list[float]]] = field(default_factory=dict)  # product -> one row per twin seed
    counts: list[list[int]] = field(default_factory=list)
    seconds: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, row: list[float], seconds: float) -> None:
        self.rows.setdefault(name, []).append(row)
        self.seconds.setdefault(name, []).append(seconds)

    def markdown(self) -> str:
        head = ["1 d", "2–3 d", "4–7 d", "8–30 d", "31–60 d", "> 60 d", "all gaps"]
        mean = {k: np.mean(v, axis=0) for k, v in self.rows.items()}
        base = [k for k in mean if k.split(":")[0] not in DRCGAN and not k.startswith(("oracle", MEAN2))]
        best = min(base, key=lambda k: mean[k][-1]) if base else None
        lines = [
            "| product | " + " | ".join(head) + " | × best baseline | fit+predict s |",
            "|---|" + "---|" * (len(head) + 2),
        ]
        for k, m in mean.items():
            ratio = f"{m[-1] / mean[best][-1]:.3f}" if best else "–"
            lines.append(
                f"| {k} | " + " | ".join(f"{x:.4f}" for x in m) + f" | {ratio} | {np.mean(self.seconds[k]):.0f} |"
            )
        n = np.sum(self.counts, axis=0)
        lines.append("| n (cell-days) | " + " | ".join(f"{x:,}" for x in n) + " | | |")
        if best:
            lines.append(f"\nBest baseline: {best}. Mean over twin seeds of the per-seed RMSE.")
        return "\n".join(lines)

    def ratios(self) -> str:
        """Per-seed ratios to that seed's best baseline (all gaps; > 60 d against the best there), summarised
        over the twin seeds: mean [95 % t-interval], worst seed."""
        from scipy import stats

        base = [k for k in self.rows if k.split(":")[0] not in DRCGAN and not k.startswith(("oracle", MEAN2))]
        if not base:
            return ""
        rows = {k: np.asarray(v) for k, v in self.rows.items()}
        best_all = np.min([rows[k][:, -1] for k in base], axis=0)
        best_old = np.min([rows[k][:, -2] for k in base], axis=0)
        n = best_all.size
        lines = [
            "| product | × best baseline, all gaps: mean [95 % CI] | worst seed | > 60 d × best there | worst seed |",
            "|---|---|---|---|---|",
        ]
        for k, v in rows.items():
            cells = []
            for r in (v[:, -1] / best_all, v[:, -2] / best_old):
                half = stats.t.ppf(0.975, n - 1) * r.std(ddof=1) / np.sqrt(n) if n > 1 else float("nan")
                cells += [f"{r.mean():.3f} [{r.mean() - half:.3f}, {r.mean() + half:.3f}]", f"{r.max():.3f}"]
            lines.append(f"| {k} | " + " | ".join(cells) + " |")
        return f"Ratios over {n} twin seeds (per seed, to that seed's best baseline):\n" + "\n".join(lines)


def parse_set(items: list[str]) -> dict:
    out: dict = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            out[key] = int(value)
        except ValueError:
            try:
                out[key] = float(value)
            except ValueError:
                out[key] = {"true": True, "false": False}.get(value.lower(), value)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="realistic")
    ap.add_argument("--seeds", type=int, nargs="+", default=[90417])
    ap.add_argument("--methods", nargs="+", default=["starfm", "dctpls", "smoothed_smap", *DRCGAN])
    ap.add_argument("--train-seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--set", nargs="*", default=[], help="DrcGAN config overrides, key=value")
    ap.add_argument("--oracle", action="store_true", help="add the truth-trained generator (the ceiling)")
    ap.add_argument(
        "--fit-seconds", type=float, default=0.0, metavar="S", help="train DrcGAN for about S seconds (steps timed)"
    )
    ap.add_argument(
        "--smap-target-mean",
        type=int,
        default=0,
        metavar="K",
        help="add drcgan trained on a K x K same-day SMAP mean (row drcgan:targetKxK)",
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    overrides = parse_set(args.set)
    if args.fit_seconds > 0 and "steps" in overrides:
        ap.error("--fit-seconds sets the steps: drop steps= from --set")
    table = Table()
    for seed in args.seeds:
        case = generate_twin(args.preset, seed=seed).case
        train, test = periods(case)
        if args.fit_seconds > 0 and seed == args.seeds[0]:  # timed once, on the first twin
            overrides = budget_overrides(case, train, overrides, args.fit_seconds)
        scorer = GapScorer.of(case, test)
        table.counts.append(scorer.counts())
        baselines: dict[str, np.ndarray] = {}
        made: dict[str, xr.DataArray] = {}  # products a method built from others reuses (as a run hands them over)
        for name in args.methods:
            blend = bool(get_method(name).combines())
            seeds = args.train_seeds if name in DRCGAN and not blend else [None]
            for s in seeds:
                cfg = {**overrides, "seed": s} if s is not None else {}
                t0 = time.perf_counter()
                m = get_method(name, **cfg).fit(case, train)
                m.given_products(made, case)
                made_now = m.predict(case, test)
                product = made_now.values
                if len(seeds) == 1:
                    made[name] = made_now
                label = name if len(seeds) == 1 else f"{name}:seed{s}"
                table.add(label, scorer.row(product), time.perf_counter() - t0)
                logging.info("twin seed %d %s: gap RMSE %.4f", seed, label, table.rows[label][-1][-1])
                if name not in DRCGAN and not blend:
                    baselines[name] = product
        if len(baselines) >= 2:
            two = sorted(baselines, key=lambda k: table.rows[k][-1][-1])[:2]
            table.add(MEAN2, scorer.row(np.mean([baselines[k] for k in two], axis=0)), 0.0)
            logging.info("twin seed %d %s (%s): gap RMSE %.4f", seed, MEAN2, " + ".join(two), table.rows[MEAN2][-1][-1])
        if args.oracle:
            t0 = time.perf_counter()
            row = scorer.row(oracle_product(case, train, test, overrides))
            table.add("oracle (truth-trained G)", row, time.perf_counter() - t0)
            logging.info("twin seed %d oracle: gap RMSE %.4f", seed, table.rows["oracle (truth-trained G)"][-1][-1])
        if args.smap_target_mean > 1:
            label = f"drcgan:target{args.smap_target_mean}x{args.smap_target_mean}"  # a DrcGAN row, not a baseline
            t0 = time.perf_counter()
            row = scorer.row(smoothed_target_product(case, train, test, overrides, args.smap_target_mean))
            table.add(label, row, time.perf_counter() - t0)
            logging.info("twin seed %d %s: gap RMSE %.4f", seed, label, row[-1])
    print(f"Twin preset '{args.preset}', seeds {args.seeds}; gaps after the training period against truth (RMSE).")
    print(table.markdown())
    print()
    print(table.ratios())
    for name in DRCGAN:
        members = [k for k in table.rows if k.startswith(f"{name}:seed")]
        if len(members) > 1:
            per = np.array([np.mean(table.rows[k], axis=0)[-1] for k in members])
            print(
                f"\n{name}: {len(per)} training seeds, gap RMSE mean {per.mean():.4f}, sd {per.std(ddof=1):.4f} "
                f"({100 * per.std(ddof=1) / per.mean():.1f} % of the mean)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
