from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from stsg_bench.errors import InputError
from stsg_bench.methods import get_method
from stsg_bench.validation import (
    METRICS,
    MatchConfig,
    Moments,
    ScoreConfig,
    combine,
    hide_smap,
    match_stations,
    open_results,
    save_results,
    score_fields,
    score_insitu,
    score_moments,
)
from stsg_bench.validation.metrics import anomalies, bootstrap_ci

ALL = list(METRICS.values())


def _pairs(seed, n=300):
    rng = np.random.default_rng(seed)
    r = 0.25 + 0.08 * np.sin(np.arange(n) / 15) + 0.02 * rng.standard_normal(n)
    p = 0.9 * r + 0.05 + 0.03 * rng.standard_normal(n)
    return p, r


def _scores(p, r):
    return {k: tuple(float(x) for x in v) for k, v in score_moments(Moments.from_pairs(p, r), ALL).items()}


@pytest.mark.parametrize("seed", range(4))
def test_metrics_equal_pytesmo(seed):
    from pytesmo.metrics import pairwise as pm

    p, r = _pairs(seed)
    s = _scores(p, r)
    assert s["bias"][0] == pytest.approx(pm.bias(p, r), abs=1e-12)
    assert s["R"][0] == pytest.approx(pm.pearson_r(p, r), abs=1e-9)
    assert s["RMSE"][0] == pytest.approx(pm.rmsd(p, r), abs=1e-12)
    assert s["ubRMSE"][0] == pytest.approx(pm.ubrmsd(p, r), abs=1e-12)
    np.testing.assert_allclose(s["bias"][1:], pm.bias_ci(p, r, pm.bias(p, r)), atol=1e-9)
    np.testing.assert_allclose(s["R"][1:], pm.pearson_r_ci(p, r, pm.pearson_r(p, r)), atol=1e-9)
    np.testing.assert_allclose(s["ubRMSE"][1:], pm.ubrmsd_ci(p, r, pm.ubrmsd(p, r)), atol=1e-9)


def test_rmse_ci_against_scipy_reference():
    from scipy import stats

    p, r = _pairs(9)
    n = len(p)
    msd = np.mean((p - r) ** 2)
    lo = np.sqrt(n * msd / stats.chi2.ppf(0.975, n))
    hi = np.sqrt(n * msd / stats.chi2.ppf(0.025, n))
    s = _scores(p, r)
    assert s["RMSE"][1] == pytest.approx(lo, rel=1e-9) and s["RMSE"][2] == pytest.approx(hi, rel=1e-9)


def test_pooled_identity_and_bootstrap():
    p, r = _pairs(3)
    s = _scores(p, r)
    assert s["RMSE"][0] ** 2 == pytest.approx(s["bias"][0] ** 2 + s["ubRMSE"][0] ** 2, rel=1e-12)
    boot = bootstrap_ci(p, r, ALL, n_boot=2000)
    for name in ("bias", "R", "RMSE", "ubRMSE"):
        lo, hi = boot[name]
        assert lo < s[name][0] < hi
        # bootstrap and analytic intervals agree roughly
        assert abs((hi - lo) - (s[name][2] - s[name][1])) < 0.5 * (s[name][2] - s[name][1])


@settings(max_examples=40, deadline=None)
@given(a=st.floats(0.1, 10), b=st.floats(-1, 1), c=st.floats(-0.2, 0.2), seed=st.integers(0, 1000))
def test_invariances(a, b, c, seed):
    p, r = _pairs(seed, 80)
    base = _scores(p, r)
    assert _scores(a * p + b, r)["R"][0] == pytest.approx(base["R"][0], abs=1e-9)
    assert _scores(p + c, r)["ubRMSE"][0] == pytest.approx(base["ubRMSE"][0], abs=1e-9)
    assert _scores(p + c, r)["bias"][0] == pytest.approx(base["bias"][0] + c, abs=1e-9)


def test_anomalies():
    x = np.arange(100, dtype=float)
    a = anomalies(x[None], "moving_average", 35)[0]
    np.testing.assert_allclose(a[30:70], 0.0, atol=1e-9)  # a linear trend has zero centred anomaly
    doy = pd.date_range("2017-01-01", periods=730).day_of_year.values
    season = np.sin(2 * np.pi * doy / 365)
    assert np.nanmax(np.abs(anomalies(season[None], "climatology", doy=doy))) < 0.05


# --- scoring on the tiny twin ---------------------------------------------------------------------------
TRAIN, TEST = ("2017-01-01", "2017-02-28"), ("2017-03-01", "2017-04-30")


@pytest.fixture(scope="module")
def scored(tiny_twin):
    case = tiny_twin.case
    prods = {n: get_method(n).fit(case, TRAIN).predict(case, TEST) for n in ("noah_raw", "smap_only", "lin_cdf_match")}
    table = match_stations(tiny_twin.stations, case, MatchConfig(min_obs=5))
    res = combine(
        [score_insitu(prods, case, table, ScoreConfig(min_obs=5)), score_fields(prods, case, case["truth"], "truth")]
    ).sel(window="all", drop=True)  # the whole period (the only window scored without windows configured)
    return prods, table, res


def test_results_cube_structure(scored, tmp_path):
    _, table, res = scored
    assert set(res["reference"].values) == {"insitu", "truth"}
    assert list(res["group"].values[:2]) == ["pooled", "station_median"]
    assert {"all", "smap_valid", "smap_gap"} == set(res["split"].values)
    pooled = res.sel(reference="insitu", group="pooled", split="all")
    v = pooled["value"]
    np.testing.assert_allclose(
        v.sel(metric="RMSE") ** 2, v.sel(metric="bias") ** 2 + v.sel(metric="ubRMSE") ** 2, rtol=1e-9
    )
    core = pooled.sel(metric=["bias", "R", "RMSE", "ubRMSE"])  # the MSE terms have no interval
    assert (core["ci_lower"] <= core["value"]).all() and (core["value"] <= core["ci_upper"]).all()
    # smap_only has no sample in gaps, filled products do
    gap_n = res["n"].sel(reference="insitu", group="pooled", split="smap_gap")
    assert int(gap_n.sel({"product": "smap_only"})) == 0 and int(gap_n.sel({"product": "noah_raw"})) > 0
    save_results(res, tmp_path / "r.nc")
    back = open_results(tmp_path / "r.nc")
    np.testing.assert_array_equal(back["value"].values, res["value"].values)


def test_station_scores_match_direct_computation(scored, tiny_twin):
    from pytesmo.metrics import pairwise as pm

    prods, table, res = scored
    k = int(np.argmax(table.usable))
    key = table.keys[k]
    times = prods["noah_raw"].indexes["time"]
    r = table.ref[k, table.times.get_indexer(times)]
    p = prods["noah_raw"].values[:, table.iy[k], table.ix[k]].astype(float)
    ok = np.isfinite(r) & np.isfinite(p)
    got = res["value"].sel({"product": "noah_raw"}).sel(reference="insitu", group=f"station:{key}", split="all")
    assert float(got.sel(metric="ubRMSE")) == pytest.approx(pm.ubrmsd(p[ok], r[ok]), abs=1e-9)
    assert float(got.sel(metric="bias")) == pytest.approx(pm.bias(p[ok], r[ok]), abs=1e-9)


def test_status_codes_for_bad_stations(tiny_twin):
    from dataclasses import replace

    case = tiny_twin.case
    good = tiny_twin.stations[1]
    far = replace(good, station="Far", lat=0.0, lon=-30.0)  # outside the window
    polar = replace(good, station="Polar", lat=89.0)
    land = case["land"].values
    r, c = np.argwhere(~land)[0]
    ocean = replace(good, station="Sea", lat=float(case["lat"].values[r, c]), lon=float(case["lon"].values[r, c]))
    empty = replace(good, station="Empty", data=good.data.iloc[:0])
    table = match_stations([good, far, polar, ocean, empty], case)
    assert table.status == ["ok", "outside_window", "outside_grid", "ocean_cell", "no_insitu_data"]
    prod = get_method("noah_raw").fit(case).predict(case, TEST)
    nan_prod = prod.copy(data=np.full(prod.shape, np.nan, np.float32))
    res = score_insitu({"noah_raw": prod, "broken": nan_prod}, case, table)
    assert res["station_status"].sel({"product": "broken"}).values[0] == "all_nan_product"
    pooled = res["value"].sel({"product": "noah_raw"}).sel(group="pooled", split="all")
    assert np.isfinite(pooled.drop_sel(metric=["TC_SNR", "TC_err", "TC_beta"])).all()  # noah_raw: the TC partner


def test_product_on_other_grid_or_times(tiny_twin):
    case = tiny_twin.case
    prod = get_method("noah_raw").fit(case).predict(case, TEST)
    table = match_stations(tiny_twin.stations, case)
    with pytest.raises(InputError, match="different grid window"):
        score_insitu({"cut": prod.isel(x=slice(0, 5))}, case, table)
    shifted = prod.assign_coords(time=prod.indexes["time"] + pd.Timedelta(days=400))
    with pytest.raises(InputError, match="not in the case"):
        score_insitu({"late": shifted}, case, table)


def test_results_from_other_version(tmp_path, scored):
    _, _, res = scored
    bad = res.copy()
    bad.attrs["results_version"] = 99
    save_results(bad, tmp_path / "r.nc")
    with pytest.raises(InputError, match="another stsg-bench version"):
        open_results(tmp_path / "r.nc")
    save_results(res.drop_vars("ci_lower"), tmp_path / "r2.nc")
    with pytest.raises(InputError, match="missing results variable"):
        open_results(tmp_path / "r2.nc")


def test_simulated_gaps(tiny_case):
    thin, hidden = hide_smap(tiny_case, period=TEST)
    from stsg_bench.case import valid_smap

    v0, v1 = valid_smap(tiny_case).values, valid_smap(thin).values
    assert hidden.values.sum() > 0 and not (v1 & hidden.values).any()
    assert (v0 == (v1 | hidden.values)).all()
    # only the test period is thinned: the chain fits each method once and predicts both cases with it
    outside = ~tiny_case.indexes["time"].isin(tiny_case.sel(time=slice(*TEST)).indexes["time"])
    assert not hidden.values[outside].any()
    assert thin["smap"][outside].equals(tiny_case["smap"][outside])
    prod = get_method("lin_cdf_match").fit(thin, TRAIN).predict(thin, TEST)
    res = score_fields(
        {"lin_cdf_match": prod}, tiny_case, tiny_case["smap"], "hidden_smap", mask=hidden, splits=("all",)
    )
    assert int(res["n"].sel(split="all").item()) == int(hidden.sel(time=slice(*TEST)).sum())


def test_overpass_matching_picks_local_6am(tiny_twin):
    import pandas as pd

    from stsg_bench.io.ismn import StationSeries

    hours = pd.date_range("2017-01-01", "2017-01-03 23:00", freq="h")
    lon = 15.0  # local solar 06:00 = 05:00 UTC
    data = pd.DataFrame({"sm": np.arange(len(hours)) / 1000.0, "flag": "G", "orig_flag": "M"}, index=hours)
    s = StationSeries("N", "S", 40.0, lon, 0.0, 0.05, 0.05, "p", data)
    from stsg_bench.validation.match import MatchConfig, _reference_series

    times = pd.date_range("2017-01-01", periods=3)
    ref = _reference_series(s, times, MatchConfig(temporal="overpass", overpass_hour=6))
    np.testing.assert_allclose(ref, [0.005, 0.029, 0.053])
    daily = _reference_series(s, times, MatchConfig())
    np.testing.assert_allclose(daily[0], np.mean(np.arange(24)) / 1000.0)


def test_fused_engine_equals_numpy():
    """The torch.compile'd one-pass kernel (used for archive-size scoring) gives the numpy sums, also
    for float32 products (P, T, S) broadcast against a float64 reference (T, S) with NaN and inf."""
    from stsg_bench.validation.metrics import split_moments

    rng = np.random.default_rng(4)
    for shape, axis in (((7, 50), -1), ((3, 40, 9), 1)):
        p = rng.random(shape).astype(np.float32 if len(shape) == 3 else np.float64)
        r = rng.random(shape[-2:])
        p[rng.random(p.shape) < 0.3] = np.nan
        p.flat[5] = np.inf
        r[rng.random(r.shape) < 0.2] = np.nan
        r.flat[7] = -np.inf
        v = rng.random(shape[-2:]) < 0.5
        a = split_moments(p, r, v, engine="numpy", axis=axis)
        b = split_moments(p, r, v, engine="fused", axis=axis)
        np.testing.assert_array_equal(a.n_product, b.n_product)
        for ma, mb in ((a.all, b.all), (a.valid, b.valid), (a.gap, b.gap)):
            for f in ("n", "sp", "sr", "spp", "srr", "spr"):
                np.testing.assert_allclose(getattr(ma, f), getattr(mb, f), rtol=1e-12, atol=1e-12)
        assert a.all.n.shape == tuple(np.delete(shape, axis))


def test_score_engines_agree(scored, tiny_twin):
    """score_insitu gives the same cube with the numpy and the fused engines, and products on different
    time axes scored together equal each scored alone."""
    prods, table, _ = scored
    case = tiny_twin.case
    prods = dict(prods, short=prods["noah_raw"].isel(time=slice(10, 40)))
    cfg = ScoreConfig(min_obs=5)
    a = score_insitu(prods, case, table, ScoreConfig(min_obs=5, engine="numpy"))
    b = score_insitu(prods, case, table, ScoreConfig(min_obs=5, engine="fused"))
    np.testing.assert_array_equal(a["n"].values, b["n"].values)
    np.testing.assert_allclose(a["value"].values, b["value"].values, rtol=1e-9, atol=1e-12, equal_nan=True)
    assert (a["station_status"].values == b["station_status"].values).all()
    for name in ("short", "lin_cdf_match"):
        alone = score_insitu({name: prods[name]}, case, table, cfg)
        # equal up to rounding: the sums' shift (the centre of all products scored together) differs
        np.testing.assert_allclose(
            alone["value"].values[0], a["value"].sel({"product": name}).values, rtol=1e-12, atol=1e-15
        )
        np.testing.assert_array_equal(alone["n"].values[0], a["n"].sel({"product": name}).values)


def test_gap_age_matches_an_explicit_loop():
    from stsg_bench.case import NO_OBSERVATION_AGE, gap_age

    rng = np.random.default_rng(5)
    valid = rng.random((90, 4, 5)) < 0.2
    valid[:, 0, 0] = False  # never observed
    valid[:, 1, 1] = False
    valid[45, 1, 1] = True  # one observation mid-period
    age = gap_age(valid)
    for iy in range(4):
        for ix in range(5):
            days = np.nonzero(valid[:, iy, ix])[0]
            for t in range(90):
                want = np.abs(days - t).min() if len(days) else NO_OBSERVATION_AGE
                assert age[t, iy, ix] == want
    assert age.dtype == np.int16 and age[0, 1, 1] == 45


def test_truth_scored_by_gap_age_bins(tiny_twin, scored):
    """Gap-age splits of the truth reference equal RMSE computed with explicit bin masks, the bins
    partition the gap split, and the report has the gap-age table."""
    from stsg_bench.case import gap_age, valid_smap
    from stsg_bench.reports.tables import all_tables
    from stsg_bench.validation.evaluate import evaluate, standard_references
    from stsg_bench.validation.score import GAP_AGE_BINS

    prods, _, _ = scored
    case = tiny_twin.case
    res = evaluate({"noah_raw": prods["noah_raw"]}, case, standard_references(case, None)).results
    res = res.sel(window="all", drop=True)
    days = case.indexes["time"].get_indexer(prods["noah_raw"].indexes["time"])
    age = gap_age(valid_smap(case).values)[days]  # the age over the whole case, on the product's days
    p, t = prods["noah_raw"].values.astype(np.float64), case["truth"].values[days].astype(np.float64)
    land = np.broadcast_to(case["land"].values, t.shape) & np.isfinite(p) & np.isfinite(t)
    total = 0
    for name, (lo, hi) in GAP_AGE_BINS.items():
        sel = land & (age >= lo) & (age <= (hi or 10**6))
        got = res.sel(reference="truth", group="pooled", split=name)
        assert int(got["n"].sel({"product": "noah_raw"})) == sel.sum()
        total += sel.sum()
        if sel.sum() > 1:
            want = np.sqrt(np.mean((p[sel] - t[sel]) ** 2))
            assert float(got["value"].sel({"product": "noah_raw"}).sel(metric="RMSE")) == pytest.approx(want, rel=1e-9)
    assert total == int(res["n"].sel({"product": "noah_raw"}).sel(reference="truth", group="pooled", split="smap_gap"))
    assert "gap_age" in all_tables(res)


def test_version_2_results_still_read():
    """Results written before the products' dimension was renamed (``method`` -> ``product``) read as new:
    ``tests/data/results_v2.nc`` is the gate reference of 2026-12-06 (version 2), cut to two products and
    without its series variables (small)."""
    ref = Path(__file__).resolve().parent / "data" / "results_v2.nc"
    with xr.open_dataset(ref) as raw:
        assert int(raw.attrs["results_version"]) == 2 and "method" in raw.dims
    res = open_results(ref)
    assert "product" in res.dims and "method" not in res.dims
    assert (
        float(
            res["value"].sel(
                product="drcgan", reference="truth", group="pooled", split="all", window="all", metric="RMSE"
            )
        )
        > 0
    )
