"""Scoring throughput of the real scoring loop (``score_insitu``: 4 metrics, analytic CIs, pooled /
per-station / per-network / station-median groups, all three splits), the per-station pytesmo loop it
is compared with, and report generation."""

import numpy as np
import pandas as pd
import xarray as xr

from stsg_bench.case import make_case
from stsg_bench.grid import Window
from stsg_bench.validation.match import StationTable
from stsg_bench.validation.score import ScoreConfig, score_insitu

SIZES = {"tiny": (20, 365, 3), "regional": (200, 1000, 8), "global": (1000, 3000, 8)}


def scoring_inputs(tier):
    """A case with one station per cell (S cells), T days and P float32 products."""
    S, T, P = SIZES[tier]
    ny = 25 if S >= 25 else S
    nx = -(-S // ny)
    rng = np.random.default_rng(0)
    times = pd.date_range("2015-04-01", periods=T)
    truth = (0.25 + 0.05 * rng.standard_normal((T, ny, nx))).astype(np.float32)
    smap = np.where(rng.random((T, ny, nx)) < 0.5, truth + 0.03, np.nan).astype(np.float32)
    case = make_case(
        Window(100, 100 + ny, 500, 500 + nx), times, smap, np.isfinite(smap), truth + 0.04, np.ones((ny, nx), bool)
    )
    iy, ix = np.divmod(np.arange(S), nx)
    ref = truth[:, iy, ix].T.astype(np.float64) + 0.02 * rng.standard_normal((S, T))
    ref[rng.random((S, T)) < 0.2] = np.nan
    table = StationTable(
        keys=[f"NET{k % 10}/S{k}/p_0.05_0.05" for k in range(S)],
        network=[f"NET{k % 10}" for k in range(S)],
        station=[f"S{k}" for k in range(S)],
        lat=np.zeros(S),
        lon=np.zeros(S),
        depth_from=np.full(S, 0.05),
        depth_to=np.full(S, 0.05),
        iy=iy,
        ix=ix,
        status=["ok"] * S,
        times=times,
        ref=ref,
    )
    products = {}
    for k in range(P):
        v = truth + 0.01 * k + 0.04 * rng.standard_normal(truth.shape).astype(np.float32)
        v[rng.random(v.shape) < 0.1] = np.nan
        products[f"m{k}"] = xr.DataArray(
            v, dims=("time", "y", "x"), coords={c: case.coords[c] for c in ("time", "y", "x", "row", "col")}
        )
    return case, table, products, S * T * P


class Scoring:
    params = [["tiny", "regional", "global"]]
    param_names = ["tier"]
    timeout = 600

    def setup(self, tier):
        self.case, self.table, self.products, self.size = scoring_inputs(tier)
        self.cfg = ScoreConfig(store_series=False)
        score_insitu(self.products, self.case, self.table, self.cfg)  # warm-up (compiles the fused kernel)

    def time_score_insitu(self, tier):
        score_insitu(self.products, self.case, self.table, self.cfg)

    def track_station_days_per_second(self, tier):
        import time

        t0 = time.perf_counter()
        score_insitu(self.products, self.case, self.table, self.cfg)
        return self.size / (time.perf_counter() - t0)

    track_station_days_per_second.unit = "station-days/s"

    def track_speedup_vs_pytesmo(self, tier):
        """Wall time of the per-station pytesmo loop (PytesmoLoop) over that of ``score_insitu``."""
        import time

        loop = PytesmoLoop()
        loop.setup(tier)
        t0 = time.perf_counter()
        loop.time_pytesmo_per_station(tier)
        t_loop = time.perf_counter() - t0
        best = np.inf
        for _ in range(3):
            t0 = time.perf_counter()
            score_insitu(self.products, self.case, self.table, self.cfg)
            best = min(best, time.perf_counter() - t0)
        return t_loop / best

    track_speedup_vs_pytesmo.unit = "x"


class PytesmoLoop:
    """A per-station loop calling pytesmo's metrics and CIs on the same matched pairs (one split)."""

    params = [["tiny", "regional", "global"]]
    param_names = ["tier"]
    timeout = 600

    def setup(self, tier):
        try:
            from pytesmo.metrics import pairwise  # noqa: F401
        except ImportError:
            raise NotImplementedError("pytesmo not installed") from None
        case, table, products, _ = scoring_inputs(tier)
        self.ref = table.ref
        self.prod = [p.values[:, table.iy, table.ix].T.astype(np.float64) for p in products.values()]

    def time_pytesmo_per_station(self, tier):
        from pytesmo.metrics import pairwise as pm

        for p in self.prod:
            for k in range(self.ref.shape[0]):
                ok = np.isfinite(p[k]) & np.isfinite(self.ref[k])
                x, y = p[k][ok], self.ref[k][ok]
                b = pm.bias(x, y)
                pm.bias_ci(x, y, b)
                r = pm.pearson_r(x, y)
                pm.pearson_r_ci(x, y, r)
                pm.rmsd(x, y)
                u = pm.ubrmsd(x, y)
                pm.ubrmsd_ci(x, y, u)


class Report:
    timeout = 600

    def setup(self):
        import tempfile
        from pathlib import Path

        from stsg_bench.cli import main

        self.tmp = Path(tempfile.mkdtemp())
        main(["demo", "--out", str(self.tmp / "d"), "--preset", "tiny", "--methods", "noah_raw", "smap_only", "starfm"])

    def time_write_report(self):
        from stsg_bench.reports import write_report

        write_report(self.tmp / "d" / "results.nc", self.tmp / "r", case_path=self.tmp / "d" / "case.nc")
