"""Baselines against the references they claim to be (pytesmo 0.18.1 as the oracle): DCT-PLS equal to
``pytesmo.interpolate.dctpls.smoothn`` and linear CDF matching equal to ``pytesmo.cdf_matching.CDFMatching``
(tied percentiles included), on synthetic fields like pytesmo's own tests and on real Hawai'i SMAP."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from stsg_bench.methods.dctpls import smoothn
from stsg_bench.methods.scaling import DEFAULT_PERCENTILES, matlab_percentiles, piecewise_linear, untie_percentiles

pytesmo_dctpls = pytest.importorskip("pytesmo.interpolate.dctpls", reason="pytesmo (test extra) not installed")
pytesmo_cdf = pytest.importorskip("pytesmo.cdf_matching", reason="pytesmo (test extra) not installed")


def reference_smoothn(data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pytesmo warns when s reaches a bound
        z, s, _, _ = pytesmo_dctpls.smoothn(np.array(data, copy=True), **kw)
    return z, float(np.ravel(s)[0])


def centre_gap_cube(n: int = 30) -> np.ndarray:
    """pytesmo's 3-D test field (values rising towards the centre) with a 10^3 gap in the middle."""
    x, y, z = np.meshgrid(np.arange(n), np.arange(n), np.arange(n), indexing="ij")
    c = (n - 1) / 2
    d = np.sqrt((x - c) ** 2 + (y - c) ** 2 + (z - c) ** 2)
    v = np.minimum(1.0 / (d / d.max()) ** 2, 100.0)
    s = slice(n // 2 - 5, n // 2 + 5)
    v[s, s, s] = np.nan
    return v


def peaks(n: int = 50, gaps: float = 0.3, seed: int = 1) -> np.ndarray:
    """Matlab's ``peaks`` surface with noise and random gaps (Garcia's 2-D example)."""
    x, y = np.meshgrid(np.linspace(-3, 3, n), np.linspace(-3, 3, n))
    z = (
        3 * (1 - x) ** 2 * np.exp(-(x**2) - (y + 1) ** 2)
        - 10 * (x / 5 - x**3 - y**5) * np.exp(-(x**2) - y**2)
        - np.exp(-((x + 1) ** 2) - y**2) / 3
    )
    rng = np.random.default_rng(seed)
    z = z + 0.5 * rng.standard_normal(z.shape)
    z[rng.random(z.shape) < gaps] = np.nan
    return z


@pytest.mark.parametrize("robust", [False, True])
@pytest.mark.parametrize("field", ["cube", "peaks", "peaks_no_gaps"])
def test_smoothn_equals_pytesmo(field, robust):
    data = {"cube": centre_gap_cube, "peaks": peaks, "peaks_no_gaps": lambda: peaks(gaps=0.0)}[field]()
    z_ref, s_ref = reference_smoothn(data, isrobust=robust)
    ours = smoothn(data, robust=robust)
    np.testing.assert_allclose(ours.z, z_ref, rtol=0, atol=1e-6)
    assert ours.s == pytest.approx(s_ref, rel=1e-6)
    if field == "cube":  # the gap's centre is filled from its surroundings, not pulled to the mean
        assert ours.z[15, 15, 15] > 10


def test_smoothn_weights_and_fixed_s_equal_pytesmo():
    data = peaks(seed=3)
    w = np.random.default_rng(3).uniform(0.2, 2.0, data.shape)
    for kw in ({"smooth": 0.5}, {}):
        z_ref, _ = reference_smoothn(data, data_weights=w, isrobust=False, **kw)
        ours = smoothn(data, weights=w, s=kw.get("smooth"), robust=False)
        np.testing.assert_allclose(ours.z, z_ref, rtol=0, atol=1e-6)


@pytest.mark.realdata
def test_smoothn_equals_pytesmo_on_hawaii_smap_blocks(real_data):
    from stsg_bench.cards import build_bundle
    from stsg_bench.case import valid_smap

    case = build_bundle("hawaii", data_root=real_data.parent).case
    # float64 for both (pytesmo computes in the input's dtype; ours always in float64)
    smap = np.where(valid_smap(case).values, case["smap"].values, np.nan).astype(np.float64)
    for start in (0, 200, 400):
        block = smap[start : start + 64]
        for robust in (False, True):
            z_ref, _ = reference_smoothn(block, isrobust=robust)
            np.testing.assert_allclose(smoothn(block, robust=robust).z, z_ref, rtol=0, atol=1e-6)


def test_dctpls_method_is_smoothn_on_its_block(tiny_case):
    from stsg_bench.case import valid_smap
    from stsg_bench.methods import get_method

    days = tiny_case.sizes["time"]
    m = get_method("dctpls", block_days=days, overlap_days=0, passthrough=False)
    period = (str(tiny_case.indexes["time"][0].date()), str(tiny_case.indexes["time"][-1].date()))
    prod = m.fit(tiny_case, period).predict(tiny_case, period).values
    obs = np.where(valid_smap(tiny_case).values, tiny_case["smap"].values, np.nan).astype(np.float64)
    z_ref, _ = reference_smoothn(obs, isrobust=True)
    land = tiny_case["land"].values
    np.testing.assert_allclose(prod[:, land], np.clip(z_ref, 0, 1)[:, land], rtol=0, atol=1e-6)


# -- linear CDF matching -------------------------------------------------------------------------------


def test_lin_cdf_match_equals_pytesmo_with_tied_percentiles():
    """Discrete values (ties in the percentiles), constant stretches and gaps: our per-pixel map equals
    ``CDFMatching(percentiles=..., minobs=None, linear_edge_scaling=False)`` fitted on the common days."""
    rng = np.random.default_rng(0)
    t, n = 200, 120
    noah = np.round(0.2 + 0.1 * rng.random((t, n)), 2)
    smap = np.round(0.1 + 0.3 * rng.random((t, n)) ** 3, 2)
    smap[rng.random((t, n)) < 0.4] = np.nan
    smap[:150, 1] = 0.02  # the lower percentiles of one pixel all tie
    smap[:, 2] = np.where(np.arange(t) % 2, 0.05, np.nan)  # a constant series
    pct = np.array(DEFAULT_PERCENTILES)
    x = untie_percentiles(matlab_percentiles(np.where(np.isfinite(smap), noah, np.nan), pct), pct)
    y = untie_percentiles(matlab_percentiles(smap, pct), pct)
    ours = piecewise_linear(noah, x, y)
    tied = 0
    for col in range(n):
        ok = np.isfinite(smap[:, col])
        cm = pytesmo_cdf.CDFMatching(percentiles=pct, minobs=None, linear_edge_scaling=False)
        ref = cm.fit(noah[ok, col], smap[ok, col]).predict(noah[:, col])
        np.testing.assert_allclose(ours[:, col], ref, rtol=0, atol=1e-9)
        tied += len(np.unique(matlab_percentiles(smap[:, col : col + 1], pct))) < len(pct)
    assert tied >= 3  # ties were exercised


def test_lin_cdf_match_method_equals_pytesmo(tiny_case):
    from stsg_bench.case import valid_smap
    from stsg_bench.methods import get_method

    train = (str(tiny_case.indexes["time"][0].date()), str(tiny_case.indexes["time"][-1].date()))
    m = get_method("lin_cdf_match", passthrough=False).fit(tiny_case, train)
    prod = m.predict(tiny_case, train).values
    tr = tiny_case.sel(time=slice(*train))
    noah = tr["noah"].values.astype(np.float64)  # pytesmo keeps percentiles in the input's dtype; ours float64
    smap = np.where(valid_smap(tr).values, tr["smap"].values, np.nan).astype(np.float64)
    pct = np.array(DEFAULT_PERCENTILES)
    checked = 0
    for iy, ix in zip(*np.nonzero(tiny_case["land"].values)):
        ok = np.isfinite(smap[:, iy, ix])
        if ok.sum() < m.config.min_common_days:
            continue
        cm = pytesmo_cdf.CDFMatching(percentiles=pct, minobs=None, linear_edge_scaling=False)
        ref = cm.fit(noah[ok, iy, ix], smap[ok, iy, ix]).predict(noah[:, iy, ix])
        np.testing.assert_allclose(prod[:, iy, ix], np.clip(ref, 0, 1), rtol=0, atol=1e-6)  # product is float32
        checked += 1
    assert checked > 100


def test_pearson_r_of_a_constant_series_is_nan():
    from stsg_bench.validation.metrics import METRICS, Moments

    r = np.random.default_rng(0).random(50)
    for p in (np.full(50, 0.3), r * 0 + 0.1 * 3 / 3):
        m = Moments.from_pairs(p, r)
        assert np.isnan(METRICS["R"].value(m)) and np.isnan(METRICS["R"].ci(m)[0])
    assert METRICS["R"].value(Moments.from_pairs(0.3 + 1e-6 * r, r)) == pytest.approx(1.0)


def _direct_scores(p: np.ndarray, r: np.ndarray) -> dict[str, float]:
    """Bias, R, RMSE, ubRMSE straight from the (centred) definitions, in float64."""
    p, r = np.asarray(p, np.float64), np.asarray(r, np.float64)
    d = p - r
    pc, rc = p - p.mean(), r - r.mean()
    return {
        "bias": float(d.mean()),
        "R": float((pc * rc).sum() / np.sqrt((pc * pc).sum() * (rc * rc).sum())),
        "RMSE": float(np.sqrt((d * d).mean())),
        "ubRMSE": float(np.sqrt(((d - d.mean()) ** 2).mean())),
    }


@pytest.mark.parametrize("offset", [0.0, 1e3, 1e6])
def test_moments_stay_exact_far_from_zero(offset, tiny_case):
    """Moments are shifted sums: an offset of 1e6 keeps 1e-9 agreement with the direct definitions, in
    the numpy and fused pair paths and in the gridded (field-sum) path; pytesmo's R agrees too."""
    from pytesmo.metrics import pearsonr

    from stsg_bench.validation.metrics import METRICS, Moments, split_moments
    from stsg_bench.validation.score import ScoreConfig, score_fields

    rng = np.random.default_rng(3)
    x = rng.standard_normal(5000)
    r = offset + x
    p = offset + 0.9 * x + 0.45 * rng.standard_normal(5000) + 0.02
    want = _direct_scores(p, r)
    assert want["R"] == pytest.approx(float(pearsonr(p, r)[0]), abs=1e-9)
    valid = np.ones(5000, bool)
    for m in (Moments.from_pairs(p, r), split_moments(p, r, valid, "fused").all):
        for name, v in want.items():
            assert float(METRICS[name].value(m)) == pytest.approx(v, abs=1e-9), name
    # gridded path: the twin's truth + offset against itself with noise, over the land pixels
    truth = tiny_case["truth"]
    noise = 0.01 * rng.standard_normal(truth.shape)
    ref = truth + offset
    prod = (truth + offset + noise).astype(np.float64)
    res = score_fields({"p": prod}, tiny_case, ref, "truth", cfg=ScoreConfig(), splits=("all",))
    land = np.broadcast_to(tiny_case["land"].values, truth.shape) & np.isfinite(truth.values)
    direct = _direct_scores(prod.values[land], ref.values[land])
    for name, v in direct.items():
        got = float(
            res["value"]
            .sel({"product": "p"})
            .sel(reference="truth", group="pooled", split="all", window="all", metric=name)
        )
        assert got == pytest.approx(v, abs=1e-9), name


def test_dctpls_blocks_in_parallel_are_the_same_bits(tiny_case, monkeypatch):
    """Several time blocks smoothed at once on one thread each give exactly the product of one block
    after another on every thread (the blocks are independent; the DCTs' bits do not depend on threads)."""
    from stsg_bench import threads
    from stsg_bench.methods import get_method

    period = (str(tiny_case.indexes["time"][0].date()), str(tiny_case.indexes["time"][-1].date()))
    products = []
    for n in (1, 2, 3):
        monkeypatch.setattr(threads, "current", lambda n=n: n)  # the thread policy's count, whatever the load
        m = get_method("dctpls", block_days=24, overlap_days=4)
        products.append(m.fit(tiny_case, period).predict(tiny_case, period).values)
    assert tiny_case.sizes["time"] > 2 * 16  # several blocks
    for p in products[1:]:
        np.testing.assert_array_equal(p, products[0])
