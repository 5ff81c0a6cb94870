"""Experiment: DrcGAN with a *second* reference per side (wider temporal context, issue #32).

    python benchmarks/drcgan_second_refs.py --seeds 90417 31337

The generator's inputs carry, per side, the nearest usable SMAP day (its SMAP, its Noah, its age and a
validity channel). Here each side also gets the usable day beyond it (the second-nearest before t and
after t, within the same ``max_ref_age``, so chunked inference stays exact): with two references the
network can tell a reference's own error from a change Noah explains. Done by patching
:class:`stsg_bench.fusion.inputs.InputBuilder` in this process only (CPU input building; the package is
unchanged), then training ``drcgan`` with its preset and scoring the test year's gap cells against the
truth as ``drcgan_accuracy.py`` does. Measured no better (``docs/methods.md``).
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np
from drcgan_accuracy import GapScorer, periods

from stsg_bench.case import valid_smap
from stsg_bench.composites import _gather
from stsg_bench.fusion import inputs
from stsg_bench.methods import get_method
from stsg_bench.twin import generate_twin


def second_refs(smap: np.ndarray, noah: np.ndarray, valid: np.ndarray, max_age: int) -> list[tuple]:
    """Per side (before, after): the second-nearest usable day's SMAP, Noah, age and validity (T, Y, X),
    strictly before / after t and at most ``max_age`` days away."""
    T = smap.shape[0]
    t = np.arange(T, dtype=np.int64).reshape(-1, 1, 1)
    edge = (1, *valid.shape[1:])
    last = np.maximum.accumulate(np.where(valid, t, -1), axis=0)  # last usable day <= t
    before1 = np.concatenate([np.full(edge, -1), last[:-1]])
    before2 = np.where(before1 > 0, np.take_along_axis(last, np.clip(before1 - 1, 0, T - 1), 0), -1)
    first = np.minimum.accumulate(np.where(valid, t, T)[::-1], axis=0)[::-1]  # first usable day >= t
    after1 = np.concatenate([first[1:], np.full(edge, T)])
    after2 = np.where(after1 < T - 1, np.take_along_axis(first, np.clip(after1 + 1, 0, T - 1), 0), T)
    out = []
    for ref in (before2, np.where(after2 < T, after2, -1)):
        age = np.abs(t - ref).astype(np.float32)
        ok = (ref >= 0) & (age <= max_age)
        ref = np.where(ok, ref, -1)
        out.append((_gather(smap, ref), _gather(noah, ref), age, ok))
    return out


def patch_input_builder() -> None:
    """Add the second references as four more channels per side to every InputBuilder of this process."""
    original = inputs.InputBuilder.__init__

    def init(self, case, norm, two_sided=True, valid=None, max_age=60, same_day=False, offset=False):
        original(self, case, norm, two_sided, valid=valid, max_age=max_age, same_day=same_day, offset=offset)
        usable = valid_smap(case).values if valid is None else valid
        smap, noah = case["smap"].values.astype(np.float32), case["noah"].values.astype(np.float32)
        py, px = self.padded[0] - smap.shape[1], self.padded[1] - smap.shape[2]
        pad = lambda a, v: np.pad(a, ((0, 0), (0, py), (0, px)), constant_values=v)  # noqa: E731
        for s, n, age, ok in second_refs(smap, noah, usable, max_age)[: 2 if two_sided else 1]:
            ok = ok & np.isfinite(s)
            self.refs.append(
                (
                    pad(np.where(ok, (s - norm.smap_mean) / norm.smap_std, 0.0).astype(np.float32), 0.0),
                    pad(np.where(ok, (n - norm.noah_mean) / norm.noah_std, 0.0).astype(np.float32), 0.0),
                    pad(np.where(ok, age / inputs.AGE_SCALE, 1.0).astype(np.float32), 1.0),
                    pad(ok.astype(np.float32), 0.0),
                )
            )

    def n_channels(self) -> int:
        return 1 + 4 * len(self.refs) + 2 * (self.obs is not None) + 2 * (self.offset is not None) + 3

    inputs.InputBuilder.__init__ = init
    inputs.InputBuilder.n_channels = property(n_channels)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="realistic")
    ap.add_argument("--seeds", type=int, nargs="+", default=[90417])
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    patch_input_builder()
    for seed in args.seeds:
        case = generate_twin(args.preset, seed=seed).case
        train, test = periods(case)
        scorer = GapScorer.of(case, test)
        t0 = time.perf_counter()
        method = get_method("drcgan").fit(case, train)
        row = scorer.row(method.predict(case, test).values)
        print(
            f"twin {seed}: drcgan with second references ({method.trainers[0].in_ch} input channels), gap RMSE by "
            f"age 1 | 2-3 | 4-7 | 8-30 | 31-60 | >60 d | all: " + " | ".join(f"{x:.4f}" for x in row),
            f"({time.perf_counter() - t0:.0f} s)",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
