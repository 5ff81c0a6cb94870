"""A new moment-based metric is one class: scoring, tables and the gate pick it up from the registry."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from stsg_bench.methods import get_method
from stsg_bench.reports.gate import default_tolerances
from stsg_bench.reports.tables import paper_table, split_table
from stsg_bench.validation import combine, score_fields
from stsg_bench.validation.metrics import METRICS, STATISTICS, Metric, Moments, register_metric

TRAIN = ("2017-01-01", "2017-02-28")
TEST = ("2017-03-01", "2017-04-30")


@pytest.fixture
def mse_metric():
    """Registers a mean-square-error metric for one test, then removes it."""

    @register_metric
    class Mse(Metric):
        name, long_name, better, units = "MSD_test", "mean-square difference", "lower", "m6 m-6"
        ci_method, tolerance, tables = "none", 1e-4, ("paper", "split")

        def value(self, m):
            return m.msd

        def ci(self, m, alpha=0.05):
            return np.full_like(m.msd, np.nan), np.full_like(m.msd, np.nan)

    yield Mse
    METRICS.pop("MSD_test")


def test_moments_fields_are_the_declared_statistics():
    # the sums, then the two shifts they were summed with
    assert tuple(f.name for f in dataclasses.fields(Moments)) == tuple(STATISTICS) + ("kp", "kr")


def test_new_metric_flows_through_scores_tables_and_gate(tiny_case, mse_metric):
    prods = {n: get_method(n).fit(tiny_case, TRAIN).predict(tiny_case, TEST) for n in ("noah_raw", "lin_cdf_match")}
    test = tiny_case.sel(time=slice(*TEST))
    res = combine([score_fields(prods, test, test["truth"], "truth")])
    pooled = res["value"].sel(reference="truth", group="pooled", split="all")
    np.testing.assert_allclose(pooled.sel(metric="MSD_test"), pooled.sel(metric="RMSE") ** 2, rtol=1e-12)
    assert str(res["metric_units"].sel(metric="MSD_test").values) == "m6 m-6"
    assert "MSD_test" in paper_table(res, "truth").columns
    assert any(c.startswith("MSD_test (") for c in split_table(res, "truth").columns)
    assert default_tolerances()["MSD_test"] == 1e-4


def test_register_metric_checks_the_declaration():
    class Half(Metric):
        name, long_name, better = "half", "incomplete", "lower"

    with pytest.raises(TypeError, match="must declare 'ci_method'"):
        register_metric(Half)
    assert "half" not in METRICS
