"""Snapshot ensembles of DrcGAN's validation checkpoints (an experiment, issue #32).

    python benchmarks/drcgan_snapshots.py --seeds 90417 31337

For each realistic twin seed: train DrcGAN at the demo preset, keep the generator of every validation
(every ``val_every`` steps), and score against the truth (gap cells of the test period, plain numpy as
in ``drcgan_accuracy.py``) the selected checkpoint (lowest validation RMSE against held-out SMAP: the
product ``drcgan`` makes), the mean of the 3 and 5 best checkpoints by that score, and the mean of the
last 3. A snapshot ensemble costs no training, only k predictions.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from stsg_bench.fusion import Trainer, get_config
from stsg_bench.fusion.infer import FusionModel, predict_case
from stsg_bench.methods.base import visible_case
from stsg_bench.twin import generate_twin

try:  # run as a script from the repository root, or imported from benchmarks/
    from drcgan_accuracy import GapScorer, periods
except ImportError:  # pragma: no cover
    from benchmarks.drcgan_accuracy import GapScorer, periods


class SnapshotTrainer(Trainer):
    """A trainer that keeps the generator of every validation: (validation RMSE, step, weights)."""

    def validate(self) -> float:
        val = super().validate()
        weights = {k: v.detach().clone() for k, v in self.eval_generator().state_dict().items()}
        self.snapshots = [*getattr(self, "snapshots", []), (val, self.step, weights)]
        return val


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[90417, 31337])
    args = ap.parse_args(argv)
    for seed in args.seeds:
        case = generate_twin("realistic", seed=seed).case
        train, test = periods(case)
        visible = visible_case(case)
        t0 = time.perf_counter()
        trainer = SnapshotTrainer(get_config("demo"), visible, train).fit()
        fit_s = time.perf_counter() - t0
        state = trainer.state_dict()
        field = lambda w, state=state, visible=visible, test=test: predict_case(  # noqa: E731
            FusionModel.from_state({**state, "selected": {"step": 0, "val_rmse": 0.0, "G": w}}), visible, test
        )
        ranked = sorted(trainer.snapshots, key=lambda s: s[0])
        best = [field(w) for _, _, w in ranked[:5]]
        products = {
            "selected": best[0],
            "mean of best 3": np.mean(best[:3], axis=0),
            "mean of best 5": np.mean(best, axis=0),
            "mean of last 3": np.mean([field(w) for _, _, w in trainer.snapshots[-3:]], axis=0),
        }
        scorer = GapScorer.of(case, test)
        print(f"twin seed {seed}: fit {fit_s:.0f} s; best steps {[s[1] for s in ranked[:5]]}")
        for name, f in products.items():
            row = scorer.row(f)
            print(f"  {name:15s} all gaps {row[-1]:.4f}  1 d {row[0]:.4f}  > 60 d {row[5]:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
