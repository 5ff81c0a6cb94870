"""The paired cluster x time-block bootstrap (stsg_bench/validation/paired.py): equal to a slow explicit
implementation replaying the same random draws, and its 95 % interval's coverage on synthetic pairs with
a known difference."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stsg_bench.validation.paired import MIN_DAYS, paired_bootstrap, replicates, resamples, statistic


def _metric_loop(a, r, metric):
    """One station's metric by plain Python."""
    n = len(a)
    ma, mr = sum(a) / n, sum(r) / n
    va = sum((x - ma) ** 2 for x in a) / n
    vr = sum((y - mr) ** 2 for y in r) / n
    cov = sum((x - ma) * (y - mr) for x, y in zip(a, r, strict=True)) / n
    ub = max(va + vr - 2 * cov, 0.0)
    return {
        "bias": abs(ma - mr),
        "R": cov / math.sqrt(va * vr),
        "RMSE": math.sqrt(ub + (ma - mr) ** 2),
        "ubRMSE": math.sqrt(ub),
    }[metric]


def _station_mean_loop(a, b, r, rows, days, metric):
    va, vb = [], []
    for s in rows:
        xa, xb, xr = [], [], []
        for t in days:
            if np.isfinite(a[s, t]) and np.isfinite(b[s, t]) and np.isfinite(r[s, t]):
                xa.append(a[s, t])
                xb.append(b[s, t])
                xr.append(r[s, t])
        if len(xa) >= MIN_DAYS:
            va.append(_metric_loop(xa, xr, metric))
            vb.append(_metric_loop(xb, xr, metric))
    return sum(va) / len(va) - sum(vb) / len(vb)


def _explicit(a, b, r, clusters, metric, n_boot, block, seed, scheme):
    """The same bootstrap written out with loops, drawing the same random numbers in the same order."""
    keep = [s for s in range(a.shape[0]) if (np.isfinite(a[s]) & np.isfinite(b[s]) & np.isfinite(r[s])).sum() >= 3]
    a, b, r = a[keep], b[keep], r[keep]
    labels = sorted(set(np.asarray(clusters)[keep]))
    members = [[i for i, c in enumerate(np.asarray(clusters)[keep]) if c == lab] for lab in labels]
    rng = np.random.default_rng(seed)
    T = a.shape[1]
    d = _station_mean_loop(a, b, r, range(len(keep)), range(T), metric)
    boots = []
    for _ in range(n_boot):
        rows, days = list(range(len(keep))), list(range(T))
        if scheme in ("clusters", "both"):
            pick = rng.integers(0, len(labels), size=len(labels))
            rows = [s for k in pick for s in members[k]]
        if scheme in ("blocks", "both"):
            starts = rng.integers(0, T, size=-(-T // block))
            days = [(s0 + j) % T for s0 in starts for j in range(block)][:T]
        boots.append(_station_mean_loop(a, b, r, rows, days, metric))
    boots = np.array(boots)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    p = (1 + np.sum(np.abs(boots - d) >= abs(d))) / (n_boot + 1)
    return d, lo, hi, p


@pytest.mark.parametrize(
    "metric, scheme", [("bias", "both"), ("R", "clusters"), ("RMSE", "blocks"), ("ubRMSE", "both"), ("R", "auto")]
)
def test_paired_bootstrap_equals_an_explicit_loop(metric, scheme):
    rng = np.random.default_rng(5)
    S, T = 7, 30
    r = rng.normal(0.25, 0.05, (S, T))
    a = r + rng.normal(0.01, 0.03, (S, T))
    b = r + rng.normal(-0.02, 0.04, (S, T))
    a[rng.random((S, T)) < 0.2] = np.nan
    b[1, :28] = np.nan  # a station with too few common days is left out
    clusters = np.array(["c0", "c0", "c1", "c2", "c2", "c2", "c3"])
    got = paired_bootstrap(a, b, r, clusters, metric, n_boot=60, block=4, seed=11, scheme=scheme)
    d, lo, hi, p = _explicit(a, b, r, clusters, metric, 60, 4, 11, "blocks" if scheme == "auto" else scheme)
    assert got.n_stations == 6 and got.n_clusters == 4 and got.scheme == ("blocks" if scheme == "auto" else scheme)
    np.testing.assert_allclose([got.delta, got.ci_lower, got.ci_upper, got.p_value], [d, lo, hi, p], rtol=1e-10)


@pytest.mark.parametrize("scheme", ["clusters", "blocks", "both"])
@pytest.mark.parametrize("kind", ["station_mean", "pooled"])
def test_replicates_are_the_statistic_on_each_resample(scheme, kind):
    """The shortcuts of the cluster scheme give what recomputing the statistic on every resampled
    (rows x days) grid gives: the same bits for per-station values reused, and to 1e-12 for pooled sums
    of the drawn rows' own sums."""
    rng = np.random.default_rng(8)
    S, T = 30, 120
    r = rng.normal(0.25, 0.05, (S, T))
    a = r + rng.normal(0.01, 0.03, (S, T))
    a[rng.random((S, T)) < 0.3] = np.nan
    a[0, 3:] = np.nan  # a station below MIN_DAYS
    mask = np.isfinite(a)
    _, draws = resamples(rng.integers(0, 12, S), T, 50, block=5, seed=3, scheme=scheme)
    drawn = list(draws)
    for metric in ("bias", "R", "RMSE", "ubRMSE"):
        want = [statistic(a[np.ix_(i, d)], r[np.ix_(i, d)], mask[np.ix_(i, d)], metric, kind) for i, d in drawn]
        got = replicates(a, r, mask, metric, kind, scheme, drawn)
        if (scheme, kind) == ("clusters", "pooled"):
            assert np.isfinite(got).all(), metric
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15, err_msg=metric)
        else:
            assert np.array_equal(got, np.array(want), equal_nan=True), metric


def _ar1(rng, shape, phi):
    x = np.empty(shape)
    x[..., 0] = rng.normal(size=shape[:-1])
    for t in range(1, shape[-1]):
        x[..., t] = phi * x[..., t - 1] + math.sqrt(1 - phi**2) * rng.normal(size=shape[:-1])
    return x


def synthetic_pair(rng, n_cells=20, per_cell=2, T=200, sa=0.04, sb=0.05, sr=0.02, phi=0.6, rho=0.7):
    """Truth-relative errors of a and b (sd sa, sb), AR(1) in time with correlation ``phi`` at lag 1, shared
    at ``rho`` by the stations of a cell; in-situ noise sd sr. True station-mean ubRMSE difference:
    sqrt(sa^2 + sr^2) - sqrt(sb^2 + sr^2)."""
    S = n_cells * per_cell
    clusters = np.repeat(np.arange(n_cells), per_cell)
    truth = 0.25 + 0.06 * _ar1(rng, (S, T), 0.9)

    def err(sd):
        shared = _ar1(rng, (n_cells, T), phi)[clusters]
        own = _ar1(rng, (S, T), phi)
        return sd * (math.sqrt(rho) * shared + math.sqrt(1 - rho) * own)

    ref = truth + sr * rng.normal(size=(S, T))
    return truth + err(sa), truth + err(sb), ref, clusters, math.hypot(sa, sr) - math.hypot(sb, sr)


def coverage(draws: int, n_boot: int, seed: int = 0, scheme: str = "auto", n_cells: int = 20) -> float:
    rng = np.random.default_rng(seed)
    hits = 0
    for k in range(draws):
        a, b, ref, clusters, true = synthetic_pair(rng, n_cells=n_cells)
        res = paired_bootstrap(a, b, ref, clusters, "ubRMSE", n_boot=n_boot, block=10, seed=k, scheme=scheme)
        hits += res.ci_lower <= true <= res.ci_upper
    return hits / draws


@pytest.mark.slow
def test_paired_interval_covers_a_known_difference():
    """Coverage of the 95 % interval over repeated synthetic draws (300 draws x 500 replicates:
    docs/comparisons.md); the bounds leave room for 80 draws' own sampling error."""
    assert 0.85 <= coverage(draws=80, n_boot=200) <= 0.99  # 20 cells: the cluster bootstrap
    assert 0.85 <= coverage(draws=80, n_boot=200, n_cells=4) <= 0.99  # 4 cells: day blocks


def test_no_difference_between_a_product_and_itself():
    rng = np.random.default_rng(2)
    a, _, ref, clusters, _ = synthetic_pair(rng, n_cells=6, T=60)
    res = paired_bootstrap(a, a.copy(), ref, clusters, "RMSE", n_boot=50)
    assert res.delta == 0 and res.ci_lower == 0 and res.ci_upper == 0 and res.p_value == 1.0
    with pytest.raises(ValueError, match="paired metric"):
        paired_bootstrap(a, a, ref, clusters, "MSE")


# -- gridded references: every pair from per-day sums ---------------------------------------------------
def _day_sums(p, r):
    """(day, split=1, statistic) sums over each day's pixels, unshifted."""
    from stsg_bench.validation.metrics import Moments

    T = p.shape[0]
    return Moments.from_pairs(p.reshape(T, -1), r.reshape(T, -1), axis=-1, shift=(0.0, 0.0)).stack()[:, None, :]


def synthetic_fields(rng, T=240, ny=8, nx=8, sa=0.03, sb=0.04, phi=0.6, spatial=0.5):
    """Two products of one truth field with errors correlated in time (AR(1), ``phi``) and in space (a
    share ``spatial`` of the error variance common to the whole field each day); the true difference of
    their RMSE against the truth is ``sa - sb``."""
    truth = 0.25 + 0.05 * rng.normal(size=(T, ny, nx))

    def err(sd):
        common = _ar1(rng, (1, T), phi)[0][:, None, None]
        own = _ar1(rng, (ny * nx, T), phi).T.reshape(T, ny, nx)
        return sd * (math.sqrt(spatial) * common + math.sqrt(1 - spatial) * own)

    return truth + err(sa), truth + err(sb), truth, sa - sb


@pytest.mark.parametrize("metric", ["bias", "R", "RMSE", "ubRMSE"])
def test_field_paired_equals_an_explicit_loop(metric):
    from stsg_bench.validation.metrics import get_metrics
    from stsg_bench.validation.paired import block_days, field_paired

    rng = np.random.default_rng(5)
    a, b, truth, _ = synthetic_fields(rng, T=40, ny=3, nx=4)
    a[3, 1, 2] = np.nan  # a missing pixel-day: both products are scored without it (same samples)
    b[3, 1, 2] = np.nan
    res = field_paired({"a": (_day_sums(a, truth), (0.0, 0.0)), "b": (_day_sums(b, truth), (0.0, 0.0))},
                       get_metrics([metric]), n_boot=60, block=10, seed=3)  # fmt: skip

    def stat(p, days):
        pp, rr = p[days].ravel(), truth[days].ravel()
        ok = np.isfinite(pp)
        return _metric_loop(list(pp[ok]), list(rr[ok]), metric)

    every = np.arange(a.shape[0])
    want = stat(a, every) - stat(b, every)
    rng2 = np.random.default_rng(3)
    boots = [stat(a, d) - stat(b, d) for d in (block_days(a.shape[0], 10, rng2) for _ in range(60))]
    lo, hi = np.percentile(boots, [2.5, 97.5])
    p = (1 + np.sum(np.abs(np.array(boots) - want) >= abs(want))) / 61
    assert res.delta[0, 1, 0, 0] == pytest.approx(want, abs=1e-12)
    assert res.delta[1, 0, 0, 0] == pytest.approx(-want, abs=1e-12)
    assert (res.ci_lower[0, 1, 0, 0], res.ci_upper[0, 1, 0, 0]) == pytest.approx((lo, hi), abs=1e-10)
    assert res.p_value[0, 1, 0, 0] == pytest.approx(p)
    assert np.isnan(res.p_value[0, 0, 0, 0])  # a product against itself is not tested


def field_coverage(draws: int, n_boot: int, seed: int = 0, phi: float = 0.6, T: int = 240) -> float:
    from stsg_bench.validation.metrics import get_metrics
    from stsg_bench.validation.paired import field_paired

    rng = np.random.default_rng(seed)
    hits = 0
    for k in range(draws):
        a, b, truth, true = synthetic_fields(rng, T=T, phi=phi)
        sums = {"a": (_day_sums(a, truth), (0.0, 0.0)), "b": (_day_sums(b, truth), (0.0, 0.0))}
        res = field_paired(sums, get_metrics(["RMSE"]), n_boot=n_boot, seed=k)
        hits += res.ci_lower[0, 1, 0, 0] <= true <= res.ci_upper[0, 1, 0, 0]
    return hits / draws


def test_field_paired_interval_covers_a_known_difference():
    """Coverage of the 95 % interval of ΔRMSE on synthetic fields with serially and spatially correlated
    errors (300 draws x 500 replicates: docs/comparisons.md); bounds for 100 draws' sampling error."""
    assert 0.87 <= field_coverage(draws=100, n_boot=300) <= 0.995
