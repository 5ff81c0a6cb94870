"""Can the weights of ``drcgan_dctpls`` be learned per gap age, without the truth?

    python benchmarks/blend_weights.py --seeds 90417 31337

For each realistic twin seed: fit ``drcgan``, ``dctpls`` and ``starfm`` on the training period and fill
the days after it (the *test* period) twice — on the case as it is, and on a *thinned* case in which
more usable SMAP of the test period is hidden (space-time runs of blocks, :func:`stsg_bench.gaps.hide_runs`,
20 % of the cell-days) and square blocks of the land are hidden on every day of the case
(:func:`stsg_bench.gaps.persistent_blocks`, 10 %: never-observed cells). Then, per gap-age bin:

* **learned** — blend weights (non-negative, summing to 1) fitted by least squares to the *hidden SMAP*
  at the thinned case's hidden cells, binned by their gap age in the thinned case: what a method can
  learn from its own case; applied to the real gaps by their gap age;
* **oracle** — the same fit to the *truth* at the real gaps: the best any gap-age weighting can do
  (it looks at the truth, so no method can have it);
* **fixed** — ``drcgan_dctpls``'s 0.6 / 0.4 as committed.

Every product is scored at the real gap cells of the test period against the truth (RMSE by gap age,
as in ``drcgan_accuracy.py``). ``--smooth`` also scores DrcGAN's own fill smoothed in space (Gaussian
on the residual to Noah) and in time (running mean of the residual): does averaging the generator's
own output buy what the blend buys?
"""

from __future__ import annotations

import argparse
import logging

import numpy as np
import xarray as xr
from drcgan_accuracy import AGE_BINS, GapScorer, periods
from scipy.ndimage import gaussian_filter, uniform_filter1d

from stsg_bench import gaps
from stsg_bench.case import gap_age, valid_smap
from stsg_bench.methods import get_method
from stsg_bench.twin import generate_twin

FIXED = {"drcgan": 0.6, "dctpls": 0.4}
MIN_CELLS = 100  # a bin with fewer hidden cells keeps the fixed weights


def age_bin(age: np.ndarray) -> np.ndarray:
    """Index into :data:`AGE_BINS` of each gap age (-1: not a gap)."""
    out = np.full(age.shape, -1, dtype=int)
    for i, (lo, hi) in enumerate(AGE_BINS):
        out[(age >= lo) & (age <= (hi if hi is not None else np.inf))] = i
    return out


def simplex_lstsq(members: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Weights w >= 0, sum 1, minimising ||sum_k w_k members[k] - target||: least squares with the sum
    constraint, dropping the most negative member until none is negative. ``members`` (K, n)."""
    k_all = members.shape[0]
    active = list(range(k_all))
    while True:
        w = np.zeros(k_all)
        if len(active) == 1:
            w[active[0]] = 1.0
            return w
        base = members[active[-1]]
        design = np.stack([members[k] - base for k in active[:-1]], axis=1)
        coef = np.linalg.lstsq(design, target - base, rcond=None)[0]
        ws = np.append(coef, 1.0 - coef.sum())
        if (ws >= 0).all():
            w[active] = ws
            return w
        active.pop(int(np.argmin(ws)))


def thinned_case(case: xr.Dataset, test_index: np.ndarray, seed: int) -> tuple[xr.Dataset, np.ndarray]:
    """The case with more usable SMAP hidden: space-time runs in the test period and persistent blocks on
    every day. Returns it and the hidden mask (T, Y, X) of formerly usable values."""
    rng = np.random.default_rng([seed, 99])
    valid = valid_smap(case).values
    in_test = np.zeros(valid.shape[0], dtype=bool)
    in_test[test_index] = True
    hidden = gaps.hide_runs(valid, 0.2, rng) & in_test[:, None, None]
    hidden |= gaps.persistent_blocks(case["land"].values, 0.1, rng)[None]
    hidden &= valid
    thin = case.copy()
    thin["smap"] = case["smap"].where(~hidden)
    thin["smap_quality"] = case["smap_quality"] & ~hidden
    return thin, hidden


def blend_by_age(fields: dict[str, np.ndarray], weights: list[np.ndarray], bins: np.ndarray, cells) -> np.ndarray:
    """Per gap-age bin, the weighted sum of the members at ``cells`` (elsewhere the first member)."""
    names = list(fields)
    out = fields[names[0]].copy()
    for i, w in enumerate(weights):
        sel = cells & (bins == i)
        out[sel] = sum(wk * fields[n][sel] for wk, n in zip(w, names, strict=True))
    return out


def run_seed(seed: int, smooth: bool) -> dict[str, list[float]]:
    case = generate_twin("realistic", seed=seed).case
    train, test = periods(case)
    scorer = GapScorer.of(case, test)
    index = case.indexes["time"].get_indexer(case.sel(time=slice(*test)).indexes["time"])
    thin, hidden = thinned_case(case, index, seed)
    real: dict[str, np.ndarray] = {}
    shown: dict[str, np.ndarray] = {}
    for name in ("drcgan", "dctpls", "starfm"):
        method = get_method(name, **({"mode": "paper"} if name == "drcgan" else {})).fit(case, train)
        real[name] = method.predict(case, test).values.astype(np.float64)
        shown[name] = method.predict(thin, test).values.astype(np.float64)
    rows = {name: scorer.row(f) for name, f in real.items()}
    learn_cells = hidden[index]
    smap = case["smap"].values[index].astype(np.float64)
    learn_bins = age_bin(gap_age(valid_smap(thin).values)[index])
    real_bins = age_bin(scorer.age)
    for members in (("drcgan", "dctpls"), ("drcgan", "dctpls", "starfm")):
        label = " + ".join(members)
        fixed = np.array([FIXED.get(n, 0.0) for n in members])
        learned, oracle = [], []
        for i in range(len(AGE_BINS)):
            sel = learn_cells & (learn_bins == i)
            n_learn = int(sel.sum())
            learned.append(
                simplex_lstsq(np.stack([shown[n][sel] for n in members]), smap[sel]) if n_learn >= MIN_CELLS else fixed
            )
            sel = scorer.gaps & (real_bins == i)
            oracle.append(simplex_lstsq(np.stack([real[n][sel] for n in members]), scorer.truth[sel]))
            logging.info(
                "twin %d %s, gap age %s: %d hidden cells; weights learned %s, oracle %s",
                seed,
                label,
                AGE_BINS[i],
                n_learn,
                np.round(learned[-1], 2),
                np.round(oracle[-1], 2),
            )
        fields = {n: real[n] for n in members}
        rows[f"{label}, learned by gap age"] = scorer.row(blend_by_age(fields, learned, real_bins, scorer.gaps))
        rows[f"{label}, oracle by gap age"] = scorer.row(blend_by_age(fields, oracle, real_bins, scorer.gaps))
    rows["drcgan + dctpls, fixed 0.6 / 0.4"] = scorer.row(sum(w * real[n] for n, w in FIXED.items()))
    if smooth:
        noah = case["noah"].values[index].astype(np.float64)
        land = np.broadcast_to(case["land"].values[None], noah.shape)
        residual = np.where(land, real["drcgan"] - noah, 0.0)
        for sigma in (0.5, 1.0, 1.5):
            num, den = (gaussian_filter(a, (0, sigma, sigma)) for a in (residual, land.astype(np.float64)))
            rows[f"drcgan, space-smoothed σ {sigma}"] = scorer.row(noah + num / np.maximum(den, 1e-6))
        for days in (3, 5, 7):
            rows[f"drcgan, {days}-day mean residual"] = scorer.row(noah + uniform_filter1d(residual, days, axis=0))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[90417])
    ap.add_argument("--smooth", action="store_true", help="also score DrcGAN's fill smoothed in space / time")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    per_seed = [run_seed(seed, args.smooth) for seed in args.seeds]
    head = ["1 d", "2–3 d", "4–7 d", "8–30 d", "31–60 d", "> 60 d", "all gaps"]
    print(f"Realistic twin seeds {args.seeds}: gap RMSE against the truth, test period, mean over seeds")
    print("| product | " + " | ".join(head) + " | per seed (all gaps) |")
    print("|---|" + "---|" * (len(head) + 1))
    for name in per_seed[0]:
        rows = np.array([r[name] for r in per_seed])
        print(
            f"| {name} | "
            + " | ".join(f"{x:.4f}" for x in rows.mean(axis=0))
            + " | "
            + " / ".join(f"{x:.4f}" for x in rows[:, -1])
            + " |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
