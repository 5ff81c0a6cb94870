"""The twin calibration table of the README: realised error and gap statistics of the white and the
realistic twin (several seeds) beside the real Hawai'i case (SMAP L3 V9 + ISMN, ``../shared/data``).

    python benchmarks/twin_calibration.py [--seeds 3 11 90417] [--data-root ../shared/data]

Prints a Markdown table (mean over seeds, min-max in brackets). Published reference figures are added by
hand in the README with their sources; this script only measures.
"""

from __future__ import annotations

import argparse
import logging

import numpy as np

from stsg_bench.twin import generate_twin
from stsg_bench.validation.twin_stats import DESCRIPTIONS, case_statistics


def _twin_column(preset: str, seeds: list[int]) -> dict[str, str]:
    runs = []
    for seed in seeds:
        twin = generate_twin(preset, seed=seed)
        runs.append(case_statistics(twin.case, twin.stations))
    out = {}
    for key in runs[0]:
        v = np.array([r.get(key, np.nan) for r in runs])
        out[key] = f"{v.mean():.3g}" + (f" ({v.min():.3g}–{v.max():.3g})" if len(v) > 1 else "")
    return out


def _real_column(data_root: str | None) -> dict[str, str]:
    from stsg_bench.cards import build_bundle
    from stsg_bench.io.ismn import read_ismn
    from stsg_bench.validation.match import MatchConfig

    try:
        bundle = build_bundle("hawaii", data_root)
    except Exception as exc:  # the shared data are not beside this checkout
        logging.warning("Hawai'i case not built (%s)", exc)
        return {}
    stations = read_ismn(bundle.insitu).sensors if bundle.insitu is not None else None
    stats = case_statistics(bundle.case, stations, MatchConfig(depth=(0.0, 0.2)))
    return {k: f"{v:.3g}" for k, v in stats.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[3, 11, 90417])
    ap.add_argument("--data-root", default=None)
    args = ap.parse_args(argv)
    cols = {
        "white twin (`small`)": _twin_column("small", args.seeds),
        "realistic twin (`realistic`)": _twin_column("realistic", args.seeds),
        "real Hawai'i 2017–18": _real_column(args.data_root),
    }
    keys = list(DESCRIPTIONS)
    print("| statistic | " + " | ".join(cols) + " |")
    print("|---|" + "---|" * len(cols))
    for k in keys:
        print(f"| {DESCRIPTIONS[k]} | " + " | ".join(c.get(k, "–") for c in cols.values()) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
