"""The trivial baselines (persistence, temporal mean, ensemble) against direct computations, and their
settings chosen on the training period only."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from stsg_bench.case import valid_smap
from stsg_bench.errors import ConfigError
from stsg_bench.methods import get_method, predict_lazy
from stsg_bench.methods.trivial import RELAX_CANDIDATES, persist, running_mean

TRAIN, TEST = ("2017-01-01", "2017-02-28"), ("2017-03-01", "2017-04-30")


def test_persistence_formula_on_one_cell():
    smap = np.array([0.30, np.nan, np.nan, 0.10, np.nan])[:, None, None]
    valid = np.isfinite(smap)
    clim = np.full_like(smap, 0.20)
    got = persist(np.nan_to_num(smap), valid, clim, tau=2.0, max_age=2)[:, 0, 0]
    # day 0: nothing before it -> climatology; day 1, 2: anomaly +0.1 of day 0 decayed by exp(-age/2);
    # day 3: the anomaly of day 0 is 3 days old (> max_age): climatology; day 4: day 3's anomaly, 1 day old
    want = [0.20, 0.20 + 0.1 * np.exp(-0.5), 0.20 + 0.1 * np.exp(-1.0), 0.20, 0.20 - 0.1 * np.exp(-0.5)]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_persistence_uses_only_the_past_and_training_days(tiny_case):
    m = get_method("persistence").fit(tiny_case, TRAIN)
    assert m.tau in RELAX_CANDIDATES and m.fit_info["relax_days"] == m.tau
    changed = tiny_case.copy(deep=True)
    late = changed["time"] > np.datetime64("2017-03-31")
    changed["smap"] = changed["smap"].where(~late, 0.05)  # the future and the test period's SMAP changed
    m2 = get_method("persistence").fit(changed, TRAIN)
    assert m2.tau == m.tau  # chosen on the training period alone
    a = m.predict(tiny_case, ("2017-03-01", "2017-03-31")).values
    b = m2.predict(changed, ("2017-03-01", "2017-03-31")).values
    np.testing.assert_array_equal(a, b)  # a day's value never depends on later SMAP


def test_running_mean_equals_a_direct_loop():
    rng = np.random.default_rng(1)
    f = rng.random((20, 3, 4))
    f[rng.random(f.shape) < 0.3] = np.nan
    got = running_mean(f, 5)
    for t in range(20):
        block = f[max(0, t - 2) : t + 3]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: nanmean warns, gives NaN
            want = np.nanmean(block, axis=0)
        np.testing.assert_allclose(got[t], want, rtol=1e-12, equal_nan=True)
    assert running_mean(f, 1) is f


def test_temporal_mean_is_the_smoothed_base_with_smap_kept(tiny_case):
    m = get_method("temporal_mean", window_days=3).fit(tiny_case, TRAIN)
    got = m.predict(tiny_case, TEST).values
    base = get_method("lin_cdf_match", passthrough=False).fit(tiny_case, TRAIN).predict(tiny_case).values
    smooth = running_mean(base.astype(np.float64), 3)
    idx = tiny_case.indexes["time"].get_indexer(tiny_case.sel(time=slice(*TEST)).indexes["time"])
    out = tiny_case.sel(time=slice(*TEST))
    want = np.where(valid_smap(out).values, out["smap"].values, np.clip(smooth[idx], 0, 1))
    want = np.where(out["land"].values[None], want, np.nan)
    np.testing.assert_allclose(got, want, atol=1e-6, equal_nan=True)
    auto = get_method("temporal_mean").fit(tiny_case, TRAIN)
    assert auto.window % 2 == 1 and auto.fit_info["window_days"] == auto.window


def test_ensemble_is_the_mean_of_its_members(tiny_case):
    m = get_method("ensemble", members=("lin_cdf_match", "mean_std")).fit(tiny_case, TRAIN)
    got = m.predict(tiny_case, TEST).values
    a = get_method("lin_cdf_match", passthrough=False).fit(tiny_case, TRAIN).predict(tiny_case, TEST).values
    b = get_method("mean_std", passthrough=False).fit(tiny_case, TRAIN).predict(tiny_case, TEST).values
    out = tiny_case.sel(time=slice(*TEST))
    want = np.where(valid_smap(out).values, out["smap"].values, (a + b) / 2)
    np.testing.assert_allclose(got, np.where(out["land"].values[None], want, np.nan), atol=1e-6, equal_nan=True)
    with pytest.raises(ConfigError, match="at least two different"):
        get_method("ensemble", members=("starfm", "starfm"))
    with pytest.raises(ConfigError, match="'nosuch' is not a registered method"):
        get_method("ensemble", members=("starfm", "nosuch"))


def test_weighted_ensemble_and_drcgan_dctpls_reuse_without_training(tiny_case):
    """weights: the weighted mean of the members' fields in the gaps; drcgan_dctpls (0.6 DrcGAN + 0.4 DCT-PLS)
    handed the run's products fits no member (DrcGAN is not trained a second time)."""
    members = ("lin_cdf_match", "mean_std")
    got = get_method("ensemble", members=members, weights=(3.0, 1.0)).fit(tiny_case, TRAIN).predict(tiny_case, TEST)
    a, b = (get_method(n, passthrough=False).fit(tiny_case, TRAIN).predict(tiny_case, TEST).values for n in members)
    out = tiny_case.sel(time=slice(*TEST))
    want = np.where(valid_smap(out).values, out["smap"].values, 0.75 * a + 0.25 * b)
    np.testing.assert_allclose(got.values, np.where(out["land"].values[None], want, np.nan), atol=1e-6, equal_nan=True)
    with pytest.raises(ConfigError, match="one non-negative number per member"):
        get_method("ensemble", weights=(1.0,))
    made = {
        "drcgan": get_method("drcgan", preset="test", steps=2).fit(tiny_case, TRAIN).predict(tiny_case, TEST),
        "dctpls": get_method("dctpls").fit(tiny_case, TRAIN).predict(tiny_case, TEST),
    }
    blend = get_method("drcgan_dctpls").fit(tiny_case, TRAIN)
    blend.given_products(made, tiny_case)
    p = blend.predict(tiny_case, TEST).values
    assert not blend.members[0].fitted  # DrcGAN not trained: its product was handed over
    gaps = out["land"].values[None] & ~valid_smap(out).values
    np.testing.assert_allclose(p[gaps], (0.6 * made["drcgan"].values + 0.4 * made["dctpls"].values)[gaps], atol=1e-6)


@pytest.mark.parametrize("name", ["persistence", "temporal_mean"])
def test_trivial_baselines_stream_exactly(tiny_case, name):
    m = get_method(name).fit(tiny_case, TRAIN)
    eager = m.predict(tiny_case, TEST).values
    lazy = predict_lazy(m, tiny_case, TEST, chunk_days=9).values
    np.testing.assert_array_equal(eager, lazy)


def test_ensemble_reuses_the_runs_member_products_and_only_those_of_its_case(tiny_case):
    from stsg_bench.validation import SimGapConfig, hide_smap

    train, test = ("2017-01-01", "2017-02-28"), ("2017-03-01", "2017-04-30")
    made = {n: get_method(n).fit(tiny_case, train).predict(tiny_case, test) for n in ("starfm", "dctpls")}
    alone = get_method("ensemble").fit(tiny_case, train)
    want = alone.predict(tiny_case, test).values
    e = get_method("ensemble").fit(tiny_case, train)
    e.given_products(made, tiny_case)

    def recomputed(*args, **kwargs):
        raise AssertionError("a member was recomputed although its product was handed over")

    saved = [m.predict for m in e.members]
    for m in e.members:
        m.predict = recomputed
    np.testing.assert_array_equal(e.predict(tiny_case, test).values, want)  # the same bits
    for m, p in zip(e.members, saved, strict=True):
        m.predict = p
    thin, _ = hide_smap(tiny_case, SimGapConfig(fraction=0.2), period=test)
    # products of the whole case handed over for the thinned one: recognised and recomputed
    np.testing.assert_array_equal(e.predict(thin, test).values, alone.predict(thin, test).values)
    assert get_method("ensemble", passthrough=False).combines() == ()
