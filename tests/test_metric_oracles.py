"""The rank, MSE-decomposition and triple-collocation metrics equal pytesmo 0.18.1 (the outside
reference) to 1e-9, directly and through the evaluation loop; windows and ISMN strata as groups."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytesmo_pairwise = pytest.importorskip("pytesmo.metrics.pairwise", reason="pytesmo (test extra) not installed")
from pytesmo.metrics import _fast_pairwise, tcol  # noqa: E402
from pytesmo.metrics.confidence_intervals import tcol_metrics_with_bootstrapped_ci  # noqa: E402

from stsg_bench.validation.metrics import METRICS, Moments  # noqa: E402
from stsg_bench.validation.sample_metrics import resample_counts, tcol_with_ci  # noqa: E402
from stsg_bench.validation.strata import station_strata, usda_texture  # noqa: E402
from stsg_bench.validation.windows import build_windows  # noqa: E402


def _triplet(n=400, seed=1):
    rng = np.random.default_rng(seed)
    s = rng.normal(0.25, 0.06, n)
    r = s + rng.normal(0, 0.03, n)
    p = 0.8 * s + 0.05 + rng.normal(0, 0.02, n)
    q = 1.2 * s - 0.02 + rng.normal(0, 0.04, n)
    return r, p, q


@pytest.mark.parametrize("n", [30, 400])
def test_rank_correlations_and_cis_equal_pytesmo(n):
    r, p, _ = _triplet(n)
    p[::7] = np.round(p[::7], 2)  # ties
    for name, fn, ci in (
        ("rho", pytesmo_pairwise.spearman_r, pytesmo_pairwise.spearman_r_ci),
        ("tau", pytesmo_pairwise.kendall_tau, pytesmo_pairwise.kendall_tau_ci),
    ):
        v, lo, hi = METRICS[name].from_samples(p, r, None, 0.05, None)
        ref = fn(p, r)
        assert abs(v - ref) <= 1e-9
        np.testing.assert_allclose((lo, hi), ci(p, r, ref, alpha=0.05), atol=1e-9, rtol=0)


def test_mse_decomposition_equals_pytesmo():
    r, p, _ = _triplet()
    p = p + 1e3  # far from zero: the shifted moments stay exact
    r = r + 1e3
    m = Moments.from_pairs(p, r)
    mse, corr, bias, var = _fast_pairwise.mse_decomposition(p, r)
    for name, ref in (("MSE", mse), ("MSE_corr", corr), ("MSE_bias", bias), ("MSE_var", var)):
        assert abs(float(METRICS[name].value(m)) - ref) <= 1e-9, name
    assert abs(corr + bias + var - mse) <= 1e-12


def test_triple_collocation_equals_pytesmo_with_the_same_resamples():
    r, p, q = _triplet()
    for ref_ind in (0, 1):
        est = tcol_with_ci(r, p, q, 0.05, None, ref_ind=ref_ind)
        for got, want in zip((est["snr"][0], est["err_std"][0], est["beta"][0]), tcol.tcol_metrics(r, p, q, ref_ind)):
            np.testing.assert_allclose(got, want, atol=1e-9, rtol=0)
    np.random.seed(11)  # pytesmo draws np.random.choice(n, n) per resample from the global generator
    want = tcol_metrics_with_bootstrapped_ci(r, p, q, nsamples=300)
    np.random.seed(11)
    idx = np.stack([np.random.choice(r.size, size=r.size) for _ in range(300)])
    got = tcol_with_ci(r, p, q, 0.05, resample_counts(idx, r.size))
    for key, ref in zip(("snr", "err_std", "beta"), want):
        for a, b in zip(got[key], ref):
            np.testing.assert_allclose(a, b, atol=1e-9, rtol=0)


def test_tc_metrics_through_the_loop(tiny_twin):
    """The loop's pooled TC value of a product equals pytesmo's tcol_metrics on the same samples."""
    from stsg_bench.methods import get_method
    from stsg_bench.validation import MatchConfig, ScoreConfig, match_stations, score_insitu

    case = tiny_twin.case
    test = ("2017-03-01", "2017-04-30")
    prods = {
        n: get_method(n).fit(case, ("2017-01-01", "2017-02-28")).predict(case, test)
        for n in ("noah_raw", "lin_cdf_match")
    }
    table = match_stations(tiny_twin.stations, case, MatchConfig(min_obs=5))
    res = score_insitu(prods, case, table, ScoreConfig(min_obs=5, tc_partner="noah_raw", tc_bootstrap=50))
    res = res.sel(window="all", group="pooled", split="all", reference="insitu")
    from stsg_bench.validation.match import at_station_cells

    days = case.indexes["time"].get_indexer(prods["noah_raw"].indexes["time"])
    ref = np.where(table.usable[:, None], table.ref[:, days], np.nan).T
    p = at_station_cells(prods["lin_cdf_match"], table).astype(float)
    q = at_station_cells(prods["noah_raw"], table).astype(float)
    ok = np.isfinite(ref) & np.isfinite(p) & np.isfinite(q)
    snr, err, beta = tcol.tcol_metrics(ref[ok], p[ok], q[ok], 0)
    got = res["value"].sel({"product": "lin_cdf_match"})
    np.testing.assert_allclose(
        [float(got.sel(metric=k)) for k in ("TC_SNR", "TC_err", "TC_beta")], [snr[1], err[1], beta[1]], atol=1e-9
    )
    rho = pytesmo_pairwise.spearman_r(p[np.isfinite(ref) & np.isfinite(p)], ref[np.isfinite(ref) & np.isfinite(p)])
    assert abs(float(got.sel(metric="rho")) - rho) <= 1e-9
    lo, hi = (
        float(res["ci_lower"].sel({"product": "lin_cdf_match"}).sel(metric="TC_err")),
        float(res["ci_upper"].sel({"product": "lin_cdf_match"}).sel(metric="TC_err")),
    )
    assert lo <= err[1] <= hi
    assert np.isnan(res["value"].sel({"product": "noah_raw"}).sel(metric="TC_SNR"))  # not against itself


def test_seasons_and_user_windows_are_a_dimension(tiny_twin):
    """Window scores equal scores of the products cut to the window's days; n of the seasons add up."""
    from stsg_bench.methods import get_method
    from stsg_bench.validation import FieldReference, InsituReference, ValidationConfig, evaluate

    case = tiny_twin.case
    prod = {"noah_raw": get_method("noah_raw").fit(case).predict(case, ("2017-01-01", "2017-04-30"))}
    cfg = ValidationConfig(min_obs=5, windows=(("spring", "2017-03-10", "2017-04-05"),), same_sample=False)
    refs = [InsituReference(tiny_twin.stations), FieldReference("truth", case["truth"])]
    res = evaluate(prod, case, refs, cfg).results
    assert list(res["window"].values) == ["all", "DJF", "MAM", "JJA", "SON", "spring"]
    n = res["n"].sel(group="pooled", split="all").sel({"product": "noah_raw"})
    seasons = n.sel(window=["DJF", "MAM", "JJA", "SON"]).sum("window")
    assert (seasons == n.sel(window="all")).all() and (n.sel(window="spring") > 0).all()
    cut = {"noah_raw": prod["noah_raw"].sel(time=slice("2017-03-10", "2017-04-05"))}
    alone = evaluate(cut, case, refs, ValidationConfig(min_obs=5, seasons=False, same_sample=False)).results
    a = res["value"].sel(window="spring", group="pooled")
    b = alone["value"].sel(window="all", group="pooled")
    core = ["bias", "R", "RMSE", "ubRMSE", "rho", "tau"]
    np.testing.assert_allclose(a.sel(metric=core), b.sel(metric=core), rtol=1e-9, atol=1e-12)
    assert "window_description" in res.coords


@pytest.mark.parametrize(
    "clay, sand, expected",
    [
        (20, 31, "loam"),
        (5, 90, "sand"),
        (5, 10, "silt"),
        (15, 10, "silt loam"),
        (30, 10, "silty clay loam"),
        (30, 55, "sandy clay loam"),
        (45, 10, "silty clay"),
        (50, 20, "clay"),
        (38, 55, "sandy clay"),
        (30, 30, "clay loam"),
        (15, 65, "sandy loam"),
        (4, 82, "loamy sand"),
    ],
)
def test_usda_texture_triangle(clay, sand, expected):
    assert usda_texture(clay, sand, 100 - clay - sand) == expected


def test_strata_become_groups(tiny_twin):
    """Stations with ISMN metadata are grouped by land cover, climate and soil texture; a stratum's
    pooled n is the sum of its stations' n."""
    from dataclasses import replace

    from stsg_bench.methods import get_method
    from stsg_bench.validation import MatchConfig, ScoreConfig, match_stations, score_insitu

    case = tiny_twin.case
    meta = [
        {
            "land_cover": "Grassland",
            "climate_class": "Cfb",
            "clay_fraction": 20.0,
            "sand_fraction": 31.0,
            "silt_fraction": 49.0,
        },
        {"land_cover": "Cropland, rainfed", "climate_class": "Cfb"},
    ]
    stations = [replace(s, metadata=dict(meta[i % 2])) for i, s in enumerate(tiny_twin.stations)]
    table = match_stations(stations, case, MatchConfig(min_obs=5))
    by_key = dict(zip(table.keys, table.strata))
    first = next(s.key for s in stations if s.metadata["land_cover"] == "Grassland" and s.key in by_key)
    assert by_key[first] == {"land_cover": "Grassland", "climate": "Cfb", "soil": "loam"}
    assert station_strata({}) == {}
    prod = {"noah_raw": get_method("noah_raw").fit(case).predict(case, ("2017-03-01", "2017-04-30"))}
    res = score_insitu(prod, case, table, ScoreConfig(min_obs=5)).sel(window="all", split="all", reference="insitu")
    groups = [str(g) for g in res["group"].values]
    assert {"land_cover:Grassland", "land_cover:Cropland, rainfed", "climate:Cfb", "soil:loam"} <= set(groups)
    n = res["n"].sel({"product": "noah_raw"}).to_series()
    grass = [
        f"station:{k}"
        for k, st, ok in zip(table.keys, table.strata, table.usable)
        if ok and st.get("land_cover") == "Grassland"
    ]
    assert int(n["land_cover:Grassland"]) == int(n[grass].sum()) > 0
    assert int(n["climate:Cfb"]) == int(n["pooled"])


def test_window_config_errors():
    from stsg_bench.errors import ConfigError
    from stsg_bench.validation import ValidationConfig

    with pytest.raises(ConfigError, match="end .* is before start"):
        build_windows(True, (("x", "2018-05-01", "2018-04-01"),))
    with pytest.raises(ConfigError, match="used twice"):
        build_windows(True, (("DJF", "2018-01-01", "2018-02-01"),))
    cfg = ValidationConfig.from_mapping({"windows": {"wet": ["2018-11-01", "2019-03-31"]}, "tc_partner": ""})
    assert cfg.windows == (("wet", "2018-11-01", "2019-03-31"),) and cfg.score_config().tc_partner is None
    with pytest.raises(ConfigError, match="windows: expected a table"):
        ValidationConfig.from_mapping({"windows": ["2018-11-01"]})
    assert pd.Timestamp("2018-12-15").month in build_windows()[1].months


def test_average_ranks_are_scipys_rankdata_exactly():
    """Spearman's ranks come from our short average-rank kernel: the same values as scipy's
    ``rankdata`` (ties share their mean rank), float32 and float64 inputs, with and without ties."""
    from scipy import stats

    from stsg_bench.validation.sample_metrics import average_ranks

    rng = np.random.default_rng(5)
    for n in (1, 2, 7, 365):
        for x in (rng.random(n), np.round(rng.random(n) * 3, 1), rng.random(n).astype(np.float32), np.zeros(n)):
            np.testing.assert_array_equal(average_ranks(x), stats.rankdata(x))


def test_kendall_tau_is_scipys_public_function_exactly():
    """Kendall's tau calls scipy's ``kendalltau`` without its NaN-policy wrapper: the same values as the
    public function, with and without ties, float32 and float64."""
    from scipy import stats

    rng = np.random.default_rng(6)
    for n in (4, 33, 365):
        for x in (rng.random(n), np.round(rng.random(n) * 3, 1), rng.random(n).astype(np.float32)):
            y = x + rng.random(n).astype(x.dtype)
            got = METRICS["tau"].from_samples(x, y, None, 0.05, None)[0]
            assert got == float(stats.kendalltau(x, y).statistic)
