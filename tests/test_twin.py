import hashlib

import numpy as np
import pytest

from stsg_bench.case import valid_smap
from stsg_bench.io.ismn import daily_mean, read_ismn
from stsg_bench.twin import TwinWorld, generate_twin, get_spec, write_twin


def test_truth_within_physical_bounds(tiny_twin):
    world = TwinWorld(tiny_twin.spec, tiny_twin.seed)
    truth = tiny_twin.case["truth"].values
    land = world.land
    t = truth[:, land]
    assert np.isfinite(t).all()
    assert (t >= world.theta_r[land] - 1e-6).all()
    assert (t <= world.porosity[land] + 1e-6).all()
    assert np.isnan(truth[:, ~land]).all()


def test_small_coverage_like_smap_l3():
    twin = generate_twin("small", seed=3, ndays=120, n_stations=0)
    land = twin.case["land"].values
    cov = valid_smap(twin.case).values[:, land].mean(axis=1)
    assert 0.40 <= cov.mean() <= 0.70
    # gaps move: no land pixel is observed every day
    assert valid_smap(twin.case).values[:, land].mean(axis=0).max() < 1.0


def test_noah_is_complete_and_biased(tiny_case):
    land = tiny_case["land"].values
    noah, truth = tiny_case["noah"].values[:, land], tiny_case["truth"].values[:, land]
    assert np.isfinite(noah).all()
    assert 0.01 < np.mean(noah - truth) < 0.08


def test_same_seed_identical_different_seed_differs(tmp_path):
    a, b, c = (generate_twin("tiny", seed=s) for s in (5, 5, 6))
    for v in ("smap", "noah", "truth", "smap_quality"):
        assert a.case[v].values.tobytes() == b.case[v].values.tobytes()
    assert a.case["smap"].values.tobytes() != c.case["smap"].values.tobytes()
    write_twin(a, tmp_path / "a")
    write_twin(b, tmp_path / "b")

    def digest(root):
        h = hashlib.sha256()
        for p in sorted(root.rglob("*")):
            if p.is_file():
                h.update(p.relative_to(root).as_posix().encode())
                h.update(p.read_bytes())
        return h.hexdigest()

    assert digest(tmp_path / "a") == digest(tmp_path / "b")


def test_station_files_parse_back(tiny_twin, tmp_path):
    write_twin(tiny_twin, tmp_path)
    coll = read_ismn(tmp_path / "ismn", strict=True)
    assert len(coll.sensors) == len(tiny_twin.stations)
    by_key = {s.key: s for s in coll.sensors}
    for gen in tiny_twin.stations:
        got = by_key[gen.key]
        assert got.lat == pytest.approx(gen.lat) and got.lon == pytest.approx(gen.lon)
        np.testing.assert_allclose(got.data["sm"].values, gen.data["sm"].values, atol=5e-5)
        assert (got.data["flag"].values == gen.data["flag"].values).all()
        assert (got.data.index == gen.data.index).all()
    flags = np.concatenate([s.data["flag"].values for s in tiny_twin.stations])
    assert {"G", "C03", "D03"} <= set(flags)
    d = daily_mean(coll.sensors[0])
    assert len(d) > 0.8 * tiny_twin.spec.ndays


def test_global_preset_is_lazy():
    spec = get_spec("global", ndays=2, spinup_days=1)
    world = TwinWorld(spec, seed=0)
    days = world.iter_days()
    first = next(days)
    assert first.smap.shape == (406, 964)
    land = world.land
    assert 0.2 < land.mean() < 0.35
    cov = np.isfinite(first.smap[land]).mean()
    assert 0.3 < cov < 0.9


@pytest.mark.parametrize("seed", [3, 90417])
def test_realistic_errors_are_correlated_and_do_not_flatter_smoothers(seed):
    """The realistic preset (any seed): SMAP - truth has lag-1 autocorrelation 0.3-0.6 and a spatial
    e-folding length of 2-4 cells, and a 3x3 same-day SMAP mean beats SMAP against truth by at most 15 %
    (the white twin: ~0 / ~0.6 cells / 48 %)."""
    from stsg_bench.validation.twin_stats import case_statistics

    twin = generate_twin("realistic", seed=seed, ndays=150)
    stats = case_statistics(twin.case, twin.stations)
    assert 0.3 <= stats["error_lag1"] <= 0.6
    assert 2.0 <= stats["error_length_cells"] <= 4.0
    assert 0.0 < stats["smoother_gain"] <= 0.15
    assert 0.03 <= stats["smap_ubrmse_truth"] <= 0.05  # published SMAP ubRMSE ~0.04 at core sites
    assert stats["noah_r_truth"] < stats["smap_r_truth"]  # the model is complete but less skilful
    assert 0.04 <= stats["smap_ubrmse_station_median"] <= 0.08
    white = case_statistics(generate_twin("small", seed=seed, ndays=150).case)
    assert abs(white["error_lag1"]) < 0.05 and white["smoother_gain"] > 0.4


def test_realistic_world_keeps_the_truth_and_has_orbit_gaps():
    """Same seed, same truth whatever the error model; SMAP coverage from the AM/PM swaths at these
    latitudes is 35-60 % of land cell-days with a 1.5-3-day mean revisit."""
    from stsg_bench.validation.twin_stats import case_statistics

    white = generate_twin("tiny", seed=1)
    real = generate_twin("tiny", seed=1, errors="realistic")
    np.testing.assert_array_equal(white.case["truth"].values, real.case["truth"].values)
    assert real.case.attrs["twin_errors"] == "realistic"
    stats = case_statistics(generate_twin("realistic", seed=1, ndays=120).case)
    assert 0.35 <= stats["smap_coverage"] <= 0.6 and 1.5 <= stats["revisit_days"] <= 3.0
    with pytest.raises(Exception, match="error model"):
        get_spec("tiny", errors="pink")


def test_twin_command_prints_realised_statistics(tmp_path, capsys):
    from stsg_bench.cli import main

    assert main(["twin", "--preset", "tiny", "--errors", "realistic", "--out", str(tmp_path / "t")]) == 0
    out = capsys.readouterr().out
    assert "realised statistics ('realistic' errors)" in out
    assert "lag-1 autocorrelation of SMAP - truth anomalies" in out and "SMAP ubRMSE against stations" in out
