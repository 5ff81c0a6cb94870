"""Quick check of the asv suite (CI runs this, not the benchmarks themselves): every benchmark family
imports, sets up and runs once on the smallest CPU tier. No timings are asserted."""

import importlib
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"

CASES = [
    ("bench_fusion", "GeneratorInference", "track_fields_per_second", ("cpu", "tiny", "demo", "fp32", 1)),
    ("bench_fusion", "GeneratorInference", "track_gflop_per_field", ("cpu", "tiny", "paper", "fp32", 1)),
    ("bench_fusion", "TrainStep", "time_train_step", ("cpu", "demo")),
    ("bench_fusion", "StreamingInference", "peakmem_stream_30_days", ("demo",)),
    ("bench_baselines", "StarfmDay", "time_starfm_day", ("cpu", "tiny", 5)),
    ("bench_baselines", "StarfmNumpyLoop", "time_starfm_loop_one_side", ("tiny",)),
    ("bench_baselines", "CdfMatching", "time_fit_predict", ("tiny",)),
    ("bench_baselines", "DctPls", "time_dctpls_64_days", ("tiny",)),
    ("bench_validation", "Scoring", "track_station_days_per_second", ("tiny",)),
    ("bench_validation", "Scoring", "time_score_insitu", ("tiny",)),
    ("bench_validation", "Scoring", "track_speedup_vs_pytesmo", ("tiny",)),
    ("bench_validation", "PytesmoLoop", "time_pytesmo_per_station", ("tiny",)),
    ("bench_io", "Twin", "time_global_one_day", ()),
]


def script(name: str):
    """A script of benchmarks/ imported as a module (the scripts import each other by their file names)."""
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCH))


@pytest.fixture(scope="module")
def modules():
    sys.path.insert(0, str(BENCH))
    yield lambda name: importlib.import_module(f"benchmarks.{name}")
    sys.path.remove(str(BENCH))


@pytest.mark.parametrize("module,cls,method,params", CASES)
def test_benchmark_runs_once(modules, module, cls, method, params):
    obj = getattr(modules(module), cls)()
    obj.setup(*params)
    out = getattr(obj, method)(*params)
    if method.startswith("track_"):
        assert out > 0


def test_cuda_variants_skip_cleanly_without_gpu(modules):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    obj = modules("bench_fusion").GeneratorInference()
    with pytest.raises(NotImplementedError):
        obj.setup("cuda", "tiny", "demo", "bf16", 1)


def test_asv_config_is_valid_json():
    import json

    conf = json.loads((BENCH / "asv.conf.json").read_text())
    assert conf["environment_type"] == "existing" and conf["benchmark_dir"] == "benchmarks"


@pytest.mark.slow  # asv imports every benchmark module
def test_asv_check():
    """`asv check` (what the issue asks CI to run) discovers every benchmark without errors."""
    import shutil
    import subprocess

    asv = shutil.which("asv")
    if asv is None:
        pytest.skip("asv is not installed (pip install -e '.[bench]')")
    r = subprocess.run([asv, "check", "--python=same"], cwd=BENCH, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "No problems found" in r.stdout


def _gpu_report(tmp_path, device: str) -> str:
    import subprocess

    out = tmp_path / "report.md"
    cmd = [
        sys.executable,
        str(BENCH / "gpu_report.py"),
        "--device",
        device,
        "--tier",
        "tiny",
        "--quick",
        "--out",
        str(out),
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    text = out.read_text()
    families = ("matmul peak", "generator inference", "GAN training step", "streaming inference", "STARFM day")
    for family in families + ("scoring (fused kernel)",):
        assert f"| {family} |" in text, family
    assert "failed" not in text
    return text


@pytest.mark.slow  # a subprocess training run
def test_gpu_report_cpu_smoke(tmp_path):
    """benchmarks/gpu_report.py (the one-run GPU figures) runs on the CPU tier and writes its table."""
    _gpu_report(tmp_path, "cpu")


@pytest.mark.cuda
@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_report_cuda_paths(tmp_path):
    """The CUDA-only rows (bf16, torch.compile, CUDA graphs, inputs on the device) run on a GPU."""
    text = _gpu_report(tmp_path, "cuda")
    assert "compile+cudagraphs" in text and "inputs built on the device" in text


def test_drcgan_accuracy_script_scores_gaps_against_truth(capsys):
    """benchmarks/drcgan_accuracy.py: its gap scorer equals a direct loop over the cells, and the whole
    script (baseline, DrcGAN with two training seeds, the truth-trained oracle) runs on the tiny twin."""
    import numpy as np

    acc = script("drcgan_accuracy")
    from stsg_bench.case import valid_smap
    from stsg_bench.twin import generate_twin

    case = generate_twin("tiny", seed=5).case
    train, test = acc.periods(case)
    assert train[1] == case.attrs["train_end"] and test[0] > train[1]
    scorer = acc.GapScorer.of(case, test)
    out = case.sel(time=slice(*test))
    product = out["noah"].values
    valid, land, truth = valid_smap(case).values, out["land"].values, out["truth"].values
    offset = case.indexes["time"].get_loc(out.indexes["time"][0])
    ages, errs = [], []
    for t, y, x in zip(*np.nonzero(~valid_smap(out).values & land[None])):
        seen = np.flatnonzero(valid[:, y, x]) - (t + offset)  # days from this gap to each usable value
        ages.append(int(np.abs(seen).min()) if seen.size else 10**6)
        errs.append(float(product[t, y, x]) - float(truth[t, y, x]))
    age, err = np.array(ages), np.array(errs)
    rmse = lambda m: float(np.sqrt(np.mean(err[m] ** 2)))  # noqa: E731
    assert scorer.rmse(product) == pytest.approx(rmse(age > 0), rel=1e-9)
    assert scorer.rmse(product, 1, 1) == pytest.approx(rmse(age == 1), rel=1e-9)
    assert scorer.rmse(product, 2, 3) == pytest.approx(rmse((age >= 2) & (age <= 3)), rel=1e-9)
    assert scorer.counts()[-1] == len(err) > 0

    args = ["--preset", "tiny", "--seeds", "5", "--methods", "starfm", "drcgan_l1", "--train-seeds", "0", "1"]
    assert acc.main([*args, "--set", "steps=2", "crop=16", "batch_size=2", "--oracle", "--smap-target-mean", "3"]) == 0
    text = capsys.readouterr().out
    rows = (
        "| starfm |",
        "| drcgan_l1:seed0 |",
        "| drcgan_l1:seed1 |",
        "| oracle (truth-trained G) |",
        "| drcgan:target3x3 |",
    )
    for row in rows:
        assert row in text, row
    assert "Best baseline: starfm" in text and "drcgan_l1: 2 training seeds" in text


def test_drcgan_accuracy_time_budget():
    """``--fit-seconds``: the step count from timed steps, capped at the preset's count, at least 10 steps,
    validation every 1/40 of them (at least the preset's interval); with ``steps=`` as well, an error."""
    acc = script("drcgan_accuracy")
    from stsg_bench.twin import generate_twin

    case = generate_twin("tiny", seed=5).case
    train, _ = acc.periods(case)
    small = {"crop": 16, "batch_size": 2}
    paper = {"preset": "paper", "crop": 32, "batch_size": 2, "ngf": 8, "n_blocks": 1, "ndf": 8}  # 20,000 steps
    assert acc.budget_overrides(case, train, paper, 1e6) == {**paper, "steps": 20000, "val_every": 500}
    assert acc.budget_overrides(case, train, small, 1e-6) == {**small, "steps": 10, "val_every": 40}  # demo
    with pytest.raises(SystemExit):
        acc.main(["--preset", "tiny", "--seeds", "5", "--methods", "drcgan", "--set", "steps=3", "--fit-seconds", "1"])


def test_blend_weights_helpers():
    """benchmarks/blend_weights.py: the simplex least squares agrees with scipy's constrained optimiser
    (also where the unconstrained optimum has a negative weight), and the thinned case hides only
    usable SMAP, persistent blocks on every day and runs only in the test period."""
    import numpy as np
    from scipy.optimize import minimize

    bw = script("blend_weights")
    from stsg_bench.case import valid_smap
    from stsg_bench.twin import generate_twin

    rng = np.random.default_rng(3)
    truth = rng.normal(size=400)
    for true_w in ([0.7, 0.3, 0.0], [1.3, -0.1, -0.2]):  # the second: an optimum outside the simplex
        members = np.stack([truth + rng.normal(scale=s, size=400) for s in (0.3, 0.5, 0.9)])
        target = np.asarray(true_w) @ members + rng.normal(scale=0.1, size=400)
        w = bw.simplex_lstsq(members, target)
        ref = minimize(
            lambda v, a=members, b=target: np.sum((v @ a - b) ** 2),
            np.full(3, 1 / 3),
            bounds=[(0, 1)] * 3,
            constraints=[{"type": "eq", "fun": lambda v: v.sum() - 1}],
            method="SLSQP",
            options={"ftol": 1e-12},
        ).x
        assert w.min() >= 0 and abs(w.sum() - 1) < 1e-12
        np.testing.assert_allclose(w, ref, atol=1e-4)
    assert list(bw.age_bin(np.array([0, 1, 2, 3, 4, 30, 60, 61, 32767]))) == [-1, 0, 1, 1, 2, 3, 4, 5, 5]

    case = generate_twin("tiny", seed=5).case
    test = np.arange(case.sizes["time"] // 2, case.sizes["time"])
    thin, hidden = bw.thinned_case(case, test, seed=1)
    valid = valid_smap(case).values
    assert hidden.any() and not (hidden & ~valid).any()
    assert (valid_smap(thin).values == (valid & ~hidden)).all()
    persistent = hidden[: test[0]].any(axis=0)  # hidden before the test period: the persistent blocks only
    assert not (valid[:, persistent] & ~hidden[:, persistent]).any()


def test_second_references_equal_a_loop():
    """benchmarks/drcgan_second_refs.py: the second-nearest usable day before and after each day, as a
    plain loop over the days finds it (within max_age; none where there is no second one)."""
    import numpy as np

    exp = script("drcgan_second_refs")
    rng = np.random.default_rng(0)
    valid = rng.random((40, 2, 3)) < 0.4
    smap = rng.random((40, 2, 3)).astype(np.float32)
    (b_smap, _, b_age, b_ok), (a_smap, _, a_age, a_ok) = exp.second_refs(smap, smap, valid, 9)
    for t, y, x in np.ndindex(valid.shape):
        before = [d for d in range(t) if valid[d, y, x] and t - d <= 9]
        after = [d for d in range(t + 1, 40) if valid[d, y, x] and d - t <= 9]
        all_before = [d for d in range(t) if valid[d, y, x]]
        all_after = [d for d in range(t + 1, 40) if valid[d, y, x]]
        second_b = all_before[-2] if len(all_before) >= 2 and all_before[-2] in before else None
        second_a = all_after[1] if len(all_after) >= 2 and all_after[1] in after else None
        assert bool(b_ok[t, y, x]) == (second_b is not None)
        assert bool(a_ok[t, y, x]) == (second_a is not None)
        if second_b is not None:
            assert b_smap[t, y, x] == smap[second_b, y, x] and b_age[t, y, x] == t - second_b
        if second_a is not None:
            assert a_smap[t, y, x] == smap[second_a, y, x] and a_age[t, y, x] == second_a - t
