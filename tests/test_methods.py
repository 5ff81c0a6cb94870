import math

import numpy as np
import pytest
import torch

from stsg_bench.case import valid_smap
from stsg_bench.composites import next_composite, previous_composite
from stsg_bench.errors import ConfigError, MethodError
from stsg_bench.methods import get_method, list_methods, load_method_config
from stsg_bench.methods.dctpls import smoothn
from stsg_bench.methods.scaling import matlab_percentiles
from stsg_bench.methods.starfm import starfm_pixel_reference, starfm_side

TRAIN = ("2017-01-01", "2017-02-28")
TEST = ("2017-03-01", "2017-04-30")


def test_registry_lists_all_baselines():
    assert {"noah_raw", "smap_only", "climatology", "mean_std", "lin_cdf_match", "starfm", "dctpls"} <= set(
        list_methods()
    )


def test_unknown_method_and_key():
    with pytest.raises(ConfigError, match="unknown method 'magic'.*valid:.*starfm"):
        get_method("magic")
    with pytest.raises(ConfigError, match="method 'starfm' config: unknown key 'wndow'; did you mean 'window'.*valid:"):
        get_method("starfm", wndow=5)
    with pytest.raises(ConfigError, match="method 'starfm' config: .*window"):
        get_method("starfm", window=4)
    # one number rule: a whole number is a float, true/false and strings are not numbers, NaN is refused
    assert get_method("mean_std", passthrough=True).config.passthrough is True
    with pytest.raises(ConfigError, match=r"config.max_age: expected a whole number, got True"):
        get_method("starfm", max_age=True)
    with pytest.raises(ConfigError, match=r"config.eps: expected a finite number"):
        get_method("starfm", eps=float("nan"))
    assert get_method("starfm", eps=1).config.eps == 1.0 and isinstance(get_method("starfm", eps=1).config.eps, float)


def test_predict_before_fit():
    with pytest.raises(MethodError, match="lin_cdf_match: predict\\(\\) called before fit\\(\\)"):
        get_method("lin_cdf_match").predict(None)


def test_no_overlap_error(tiny_case):
    with pytest.raises(MethodError, match="mean_std: no land pixel has 10000 days"):
        get_method("mean_std", min_common_days=10000).fit(tiny_case, TRAIN)


@pytest.mark.parametrize("name", ["smap_only", "climatology", "mean_std", "lin_cdf_match", "starfm", "dctpls"])
def test_filled_products_pass_smap_through(tiny_case, name):
    m = get_method(name).fit(tiny_case, TRAIN)
    p = m.predict(tiny_case, TEST)
    sub = tiny_case.sel(time=slice(*TEST))
    v = valid_smap(sub).values
    np.testing.assert_array_equal(p.values[v], sub["smap"].values[v])
    assert np.isnan(p.values[:, ~sub["land"].values]).all()
    assert p.attrs["units"] == "m3 m-3" and p.attrs["method"] == name
    if name != "smap_only":
        assert np.isfinite(p.values[:, sub["land"].values]).all()


def test_noah_raw_is_noah(tiny_case):
    p = get_method("noah_raw").fit(tiny_case).predict(tiny_case, TEST)
    sub = tiny_case.sel(time=slice(*TEST))
    np.testing.assert_array_equal(p.values[:, sub["land"].values], sub["noah"].values[:, sub["land"].values])


# --- scaling against pytesmo --------------------------------------------------------------------------
def _series(seed, n=400):
    rng = np.random.default_rng(seed)
    noah = 0.25 + 0.08 * np.sin(np.arange(n) / 20) + 0.02 * rng.standard_normal(n)
    smap = 0.8 * noah**1.3 + 0.05 + 0.03 * rng.standard_normal(n)
    smap[rng.random(n) < 0.4] = np.nan
    return noah, smap


def _one_pixel_case(tiny_case, noah, smap):
    import pandas as pd

    n = len(noah)
    from stsg_bench.case import make_case
    from stsg_bench.grid import Window

    return make_case(
        Window(100, 101, 500, 501),
        pd.date_range("2017-01-01", periods=n),
        smap[:, None, None],
        np.isfinite(smap)[:, None, None],
        noah[:, None, None],
        np.ones((1, 1), bool),
    )


def test_lin_cdf_match_equals_pytesmo(tiny_case):
    from pytesmo.cdf_matching import CDFMatching

    for seed in range(3):
        noah, smap = _series(seed)
        case = _one_pixel_case(tiny_case, noah, smap)
        perc = [0, 5, 10, 30, 50, 70, 90, 95, 100]
        ref = CDFMatching(percentiles=perc, combine_invalid=True).fit(noah, smap).predict(noah)
        m = get_method("lin_cdf_match", passthrough=False).fit(case)
        ours = m.predict(case).values[:, 0, 0]
        # float32 product; every product is clamped to the physical range [0, 1] (issue 15), pytesmo is not
        np.testing.assert_allclose(ours, np.clip(ref, 0.0, 1.0), atol=1e-6)
        # the float64 kernel itself agrees to 1e-10
        from stsg_bench.methods.scaling import piecewise_linear

        ok = np.isfinite(smap)
        xp = matlab_percentiles(np.where(ok, noah, np.nan)[:, None], perc)
        yp = matlab_percentiles(smap[:, None], perc)
        np.testing.assert_allclose(piecewise_linear(noah[:, None], xp, yp)[:, 0], ref, atol=1e-10)


def test_mean_std_equals_pytesmo(tiny_case):
    from pytesmo.scaling import mean_std

    noah, smap = _series(7)
    ok = np.isfinite(smap)
    case = _one_pixel_case(tiny_case, noah, smap)
    m = get_method("mean_std", passthrough=False).fit(case)
    ours = m._map(noah[:, None].astype(np.float64))[:, 0]
    # pytesmo on the matched pair defines the parameters; apply them to every day
    ref_ok = mean_std(noah[ok], smap[ok])
    np.testing.assert_allclose(ours[ok], ref_ok, atol=1e-10)


def test_matlab_percentiles_against_numpy_formula():
    x = np.random.default_rng(0).random((50, 3))
    x[:10, 1] = np.nan
    p = matlab_percentiles(x, [0, 50, 100])
    col = np.sort(x[10:, 1])
    n = col.size
    assert p[0, 1] == col[0] and p[2, 1] == col[-1]
    assert p[1, 1] == pytest.approx(np.interp(50, 100 * (np.arange(n) + 0.5) / n, col))


# --- STARFM -------------------------------------------------------------------------------------------
def test_starfm_hand_computed_3x3():
    noah_t = np.full((3, 3), 0.20)
    ref_noah = np.full((3, 3), 0.25)
    ref_smap = np.full((3, 3), np.nan)
    ref_smap[0, 0] = 0.30  # offset +0.05 at distance sqrt(2)
    ref_smap[1, 2] = 0.27  # offset +0.02 at distance 1
    # window 3 -> A = 1; similarity: centre has no reference -> all neighbours used
    eps = 0.002
    w1 = 1 / ((0.05 + eps) * (0.05 + eps) * (1 + math.sqrt(2)))
    w2 = 1 / ((0.02 + eps) * (0.05 + eps) * (1 + 1))
    expect = (w1 * 0.25 + w2 * 0.22) / (w1 + w2)
    t = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    pred, age = starfm_side(t(noah_t), t(ref_smap), t(ref_noah), t(np.ones((3, 3))), window=3, eps=eps)
    assert float(pred[1, 1]) == pytest.approx(expect, rel=1e-5)
    assert float(starfm_pixel_reference(noah_t, ref_smap, ref_noah, window=3)[1, 1]) == pytest.approx(expect, rel=1e-12)


@pytest.mark.parametrize("window", [3, 5])
def test_starfm_matches_per_pixel_loop(window):
    rng = np.random.default_rng(window)
    noah_t = rng.uniform(0.1, 0.4, (9, 11))
    ref_noah = noah_t + rng.normal(0, 0.03, noah_t.shape)
    ref_smap = ref_noah + 0.04 + rng.normal(0, 0.02, noah_t.shape)
    ref_smap[rng.random(noah_t.shape) < 0.4] = np.nan
    t = lambda a: torch.tensor(a, dtype=torch.float64)  # noqa: E731
    pred, _ = starfm_side(t(noah_t), t(ref_smap), t(ref_noah), t(np.ones_like(noah_t)), window=window, tile_rows=4)
    ref = starfm_pixel_reference(noah_t, ref_smap, ref_noah, window=window)
    np.testing.assert_allclose(pred.numpy(), ref, rtol=1e-10, equal_nan=True)


def test_starfm_reproduces_constant_offset_exactly():
    rng = np.random.default_rng(3)
    ref_noah = rng.uniform(0.1, 0.4, (12, 12))
    ref_smap = ref_noah + 0.037
    ref_smap[rng.random(ref_noah.shape) < 0.5] = np.nan
    noah_t = np.full((12, 12), 0.31)  # flat field at t
    t = lambda a: torch.tensor(a, dtype=torch.float64)  # noqa: E731
    pred, _ = starfm_side(t(noah_t), t(ref_smap), t(ref_noah), t(np.ones((12, 12))), window=5)
    np.testing.assert_allclose(pred.numpy(), 0.31 + 0.037, atol=1e-12)


def test_composites_previous_and_next():
    smap = np.array([0.1, np.nan, 0.3, np.nan, np.nan], dtype=np.float32).reshape(5, 1, 1)
    noah = np.arange(5, dtype=np.float32).reshape(5, 1, 1)
    valid = np.isfinite(smap)
    p = previous_composite(smap, noah, valid)
    np.testing.assert_array_equal(p.age.ravel(), [np.inf, 1, 2, 1, 2])
    np.testing.assert_allclose(p.smap.ravel(), [np.nan, 0.1, 0.1, 0.3, 0.3])
    np.testing.assert_allclose(p.noah.ravel(), [np.nan, 0, 0, 2, 2])
    n = next_composite(smap, noah, valid)
    np.testing.assert_array_equal(n.age.ravel(), [2, 1, np.inf, np.inf, np.inf])


# --- DCT-PLS ------------------------------------------------------------------------------------------
def test_dctpls_recovers_smooth_field_with_half_missing():
    """Smooth 3-D field + noise (sd 0.01), 50 % random gaps: the gaps are recovered to an RMSE below half
    the noise level and the observed values are denoised (GCV chooses s)."""
    t, y, x = np.meshgrid(np.linspace(0, 1, 24), np.linspace(0, 1, 20), np.linspace(0, 1, 22), indexing="ij")
    truth = 0.25 + 0.1 * np.sin(2 * np.pi * t) * np.cos(np.pi * y) + 0.05 * x
    rng = np.random.default_rng(0)
    w = (rng.random(truth.shape) > 0.5).astype(float)
    obs = truth + 0.01 * rng.standard_normal(truth.shape)
    res = smoothn(np.where(w > 0, obs, np.nan), robust=False)
    z, s = res.z, res.s
    gap_rmse = np.sqrt(np.mean((z - truth)[w == 0] ** 2))
    obs_rmse = np.sqrt(np.mean((z - truth)[w > 0] ** 2))
    assert gap_rmse < 0.005
    assert obs_rmse < 0.006  # below the 0.01 noise: smoothing, not interpolation
    assert 1e-3 < s < 1e3


def test_method_config_files_load():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "stsg_bench" / "resources" / "baselines"
    files = sorted(root.glob("*.toml"))
    assert len(files) >= 7
    for f in files:
        name, cfg = load_method_config(f)
        get_method(name, **cfg)  # every shipped config is valid


def test_smoothed_smap_is_a_same_day_window_mean_then_nearest_day(tiny_case):
    """The diagnostic by an explicit loop: the 3x3 mean of usable SMAP on the day, else the nearest
    day's (earlier on ties) within max_age, else Noah."""
    from stsg_bench.case import valid_smap

    c = tiny_case.isel(time=slice(0, 40))
    period = (str(c.indexes["time"][0].date()), str(c.indexes["time"][-1].date()))
    prod = get_method("smoothed_smap", max_age=5).fit(c, period).predict(c, period).values
    v = valid_smap(c).values
    sm, land, noah = c["smap"].values, c["land"].values, c["noah"].values
    t_n, ny, nx = sm.shape
    smooth = np.full(sm.shape, np.nan)
    for t in range(t_n):
        for y in range(ny):
            for x in range(nx):
                win = (slice(max(y - 1, 0), y + 2), slice(max(x - 1, 0), x + 2))
                vals = sm[t][win][v[t][win]]
                if land[y, x] and vals.size:
                    smooth[t, y, x] = vals.astype(np.float64).mean()
    checked = 0
    for y, x in zip(*np.nonzero(land)):
        for t in range(t_n):
            days = [d for d in sorted(range(t_n), key=lambda d: (abs(d - t), d)) if np.isfinite(smooth[d, y, x])]
            expected = smooth[days[0], y, x] if days and abs(days[0] - t) <= 5 else noah[t, y, x]
            assert abs(prod[t, y, x] - np.clip(expected, 0, 1)) < 1e-6, (t, y, x)
            checked += 1
    assert checked > 1000
