"""Scoring throughput (station-days per second, all metrics with analytic CIs) and report generation."""
import numpy as np

from stsg_bench.validation.metrics import METRICS, Moments, score_moments

SIZES = {"tiny": (20, 365, 3), "regional": (200, 1000, 8), "global": (1000, 3000, 8)}


class Scoring:
    params = [["tiny", "regional", "global"]]
    param_names = ["tier"]
    timeout = 600

    def setup(self, tier):
        S, T, P = SIZES[tier]
        rng = np.random.default_rng(0)
        self.ref = 0.25 + 0.05 * rng.standard_normal((S, T))
        self.ref[rng.random((S, T)) < 0.2] = np.nan
        self.prod = self.ref[None] + 0.03 + 0.04 * rng.standard_normal((P, S, T))
        self.prod[:, rng.random((S, T)) < 0.3] = np.nan
        self.net = rng.integers(0, 10, S)
        self.metrics = list(METRICS.values())
        self.size = P * S * T

    def _score(self):
        per_station = Moments.from_pairs(self.prod, np.broadcast_to(self.ref, self.prod.shape), axis=-1)  # (P, S)
        score_moments(per_station, self.metrics)
        score_moments(per_station.reduce(lambda a: a.sum(axis=-1)), self.metrics)
        for n in range(10):
            sel = self.net == n
            score_moments(per_station.reduce(lambda a, sel=sel: a[:, sel].sum(axis=-1)), self.metrics)

    def time_score_all_metrics(self, tier):
        self._score()

    def track_station_days_per_second(self, tier):
        import time

        t0 = time.perf_counter()
        self._score()
        return self.size / (time.perf_counter() - t0)

    track_station_days_per_second.unit = "station-days/s"


class PytesmoLoop:
    """The per-station loop calling pytesmo that the vectorised scoring is compared with."""

    params = [["tiny", "regional", "global"]]
    param_names = ["tier"]
    timeout = 600

    def setup(self, tier):
        try:
            from pytesmo.metrics import pairwise  # noqa: F401
        except ImportError:
            raise NotImplementedError("pytesmo not installed")
        Scoring.setup(self, tier)

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
