"""Archive scale: dask-backed cases, chunked prediction with a time halo, dask scoring, schedulers, faults."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stsg_bench.errors import ConfigError
from stsg_bench.io.lazy import open_case_lazy, open_product_lazy
from stsg_bench.methods import get_method, predict_lazy
from stsg_bench.validation import MatchConfig, match_stations, score_fields, score_insitu
from stsg_bench.workflows.scheduler import SchedulerError, SchedulerSpec, use_scheduler

TRAIN, TEST = ("2017-01-01", "2017-02-28"), ("2017-03-01", "2017-04-30")
CLI = [sys.executable, "-m", "stsg_bench.cli"]


@pytest.fixture(scope="module")
def chunked(tmp_path_factory):
    """The tiny twin written day by day in 30-day files, and opened lazily in 16-day blocks."""
    from stsg_bench.twin import write_twin_chunked

    out = write_twin_chunked("tiny", tmp_path_factory.mktemp("chunked"), chunk_days=30)
    return out, open_case_lazy(out / "case", chunk_days=16)


def test_chunked_twin_equals_in_memory_twin(chunked, tiny_twin):
    out, lazy = chunked
    assert len(list((out / "case").glob("case_*.nc"))) == 4
    assert lazy["smap"].chunks is not None and lazy["smap"].chunks[0][0] == 16
    for var in ("smap", "smap_quality", "noah", "truth", "land"):
        np.testing.assert_array_equal(lazy[var].values, tiny_twin.case[var].values)
    from stsg_bench.io.ismn import read_ismn

    coll = read_ismn(out / "ismn")
    assert len(coll.sensors) == len(tiny_twin.stations)


@pytest.mark.parametrize(
    "name, config",
    [
        ("noah_raw", {}),
        ("mean_std", {"fit_rows": 5}),
        ("lin_cdf_match", {"fit_rows": 5}),
        ("starfm", {"max_age": 20}),
        ("climatology", {}),
    ],
)
def test_predict_lazy_equals_eager(chunked, tiny_twin, name, config):
    """Fitting on the dask-backed case (apply_ufunc over row blocks) and predicting in 10-day blocks with
    the method's halo gives exactly the in-memory result."""
    _, lazy = chunked
    m = get_method(name, **config).fit(lazy, TRAIN)
    prod = predict_lazy(m, lazy, TEST, chunk_days=10)
    assert prod.chunks[0] == (10,) * 6 + (1,)  # 61 days
    ref = get_method(name, **config).fit(tiny_twin.case, TRAIN).predict(tiny_twin.case, TEST)
    np.testing.assert_array_equal(prod.values, ref.values)
    assert prod.attrs["method"] == name and prod.attrs["units"] == "m3 m-3"


def test_starfm_without_max_age_is_one_block(chunked, caplog):
    _, lazy = chunked
    m = get_method("starfm").fit(lazy, TRAIN)
    assert m.halo_days is None
    prod = predict_lazy(m, lazy, TEST, chunk_days=10)
    assert len(prod.chunks[0]) == 1 and "one block" in caplog.text


def test_dask_scoring_equals_in_memory(chunked, tiny_twin, tmp_path):
    out, lazy = chunked
    m = get_method("lin_cdf_match").fit(tiny_twin.case, TRAIN)
    eager = m.predict(tiny_twin.case, TEST)
    from stsg_bench.io.lazy import save_product

    save_product(eager, tmp_path / "p.nc", {})
    prods_lazy = {"lin_cdf_match": open_product_lazy(tmp_path / "p.nc", chunk_days=7)}
    assert prods_lazy["lin_cdf_match"].chunks is not None
    test_lazy, test_eager = lazy.sel(time=slice(*TEST)), tiny_twin.case.sel(time=slice(*TEST))
    table = match_stations(tiny_twin.stations, test_eager, MatchConfig(min_obs=5))
    a = score_insitu(prods_lazy, test_lazy, table)
    b = score_insitu({"lin_cdf_match": eager}, test_eager, table)
    np.testing.assert_array_equal(a["n"].values, b["n"].values)
    np.testing.assert_allclose(a["value"].values, b["value"].values, rtol=1e-12, equal_nan=True)
    fa = score_fields(prods_lazy, test_lazy, test_lazy["truth"], "truth")
    fb = score_fields({"lin_cdf_match": eager}, test_eager, test_eager["truth"], "truth")
    np.testing.assert_array_equal(fa["n"].values, fb["n"].values)
    np.testing.assert_allclose(fa["value"].values, fb["value"].values, rtol=1e-9)


def test_scheduler_specs():
    assert SchedulerSpec.parse(None).kind == "threads"
    assert SchedulerSpec.parse("local:3") == SchedulerSpec("local", workers=3)
    assert SchedulerSpec.parse("10.0.0.5:8786").address == "tcp://10.0.0.5:8786"
    for bad in ("gpu", "local:0", "local:x"):
        with pytest.raises(ConfigError):
            SchedulerSpec.parse(bad)


def test_unreachable_scheduler_is_one_clear_error():
    with pytest.raises(SchedulerError, match=r"cannot reach the Dask scheduler at tcp://127.0.0.1:1 within 1 s"):
        with use_scheduler("tcp://127.0.0.1:1", timeout=1):
            pass


@pytest.mark.slow  # starts a dask LocalCluster
def test_local_cluster_gives_the_same_product(chunked, tiny_twin):
    _, lazy = chunked
    m = get_method("lin_cdf_match").fit(tiny_twin.case, TRAIN)
    with use_scheduler("local:2"):
        on_cluster = predict_lazy(m, lazy, TEST, chunk_days=20).values
    np.testing.assert_array_equal(on_cluster, m.predict(tiny_twin.case, TEST).values)


@pytest.mark.slow  # two fresh interpreters, each fitting and streaming two methods
def test_scale_command_end_to_end_and_resume(chunked, tmp_path):
    out, _ = chunked
    cmd = CLI + [
        "scale",
        str(out / "case"),
        "--insitu",
        str(out / "ismn"),
        "--out",
        str(tmp_path / "run"),
        "--train-period",
        *TRAIN,
        "--chunk-days",
        "16",
        "--min-obs",
        "5",
    ]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    import json

    from stsg_bench.validation import open_results

    summary = json.loads((tmp_path / "run" / "scale_summary.json").read_text())
    assert summary["days"] == 120 and summary["grid"] == [24, 32] and summary["peak_rss_mb"] > 0
    res = open_results(tmp_path / "run" / "results.nc")
    assert set(res["product"].values) == {"lin_cdf_match", "starfm"}
    assert set(res["reference"].values) == {"insitu", "truth", "insitu_same", "truth_same"}
    first = (tmp_path / "run" / "products" / "starfm_2017.nc").stat().st_mtime_ns
    r2 = subprocess.run(cmd, capture_output=True, text=True)  # finished chunks are checked and skipped
    assert r2.returncode == 0, r2.stderr
    assert (tmp_path / "run" / "products" / "starfm_2017.nc").stat().st_mtime_ns == first


@pytest.mark.slow  # waits out the 10 s connection timeout
def test_cli_unreachable_scheduler(chunked, tmp_path):
    out, _ = chunked
    r = subprocess.run(
        CLI + ["scale", str(out / "case"), "--out", str(tmp_path / "x"), "--scheduler", "tcp://127.0.0.1:1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:1" in _error_line(r.stderr)
    assert not (tmp_path / "x").exists()


def _error_line(stderr: str) -> str:
    """The one error line (progress bars aside); no traceback."""
    assert "Traceback" not in stderr
    lines = [ln for ln in stderr.splitlines() if "error:" in ln]
    assert len(lines) == 1, stderr
    return lines[0]


# --- output faults: a read-only folder, a write that fails mid-file (file-size limit ~ a full disk) ------
@pytest.fixture(scope="module")
def two_year_chunks(tmp_path_factory):
    from stsg_bench.twin import write_twin_chunked

    return (
        write_twin_chunked("tiny", tmp_path_factory.mktemp("two"), seed=3, chunk_days=100, ndays=400, n_stations=0)
        / "case"
    )


def _fuse_cmd(case, out) -> list[str]:
    """Per-year lin_cdf_match products of every day (2017 in-sample included), trained on 2017."""
    return CLI + [
        "fuse",
        "--method",
        "lin_cdf_match",
        "--case",
        str(case),
        "--out",
        str(out),
        "--chunk-by-year",
        "--train-period",
        "2017-01-01",
        "2017-12-31",
        "--period",
        "all",
    ]


def _fuse(case, out, preexec=None, plugin=None):
    """``fuse`` in a subprocess, optionally with a test plug-in from this folder (``--plugin``)."""
    cmd = _fuse_cmd(case, out)
    if plugin:
        cmd = cmd[: len(CLI)] + ["--plugin", plugin] + cmd[len(CLI) :]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(cmd, capture_output=True, text=True, preexec_fn=preexec, env=env)


def _limit_file_size(nbytes):
    def apply():
        import resource
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-large write then fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))

    return apply


@pytest.mark.slow  # subprocess runs with a failing disk
def test_failed_write_keeps_finished_chunks(two_year_chunks, tmp_path):
    out = tmp_path / "p"
    assert _fuse(two_year_chunks, out, plugin="kill_after_first_chunk").returncode == 137  # killed after 2017
    done = out / "lin_cdf_match_2017.nc"
    before = done.read_bytes()
    r = _fuse(two_year_chunks, out, preexec=_limit_file_size(20_000))  # the 2018 file cannot be written
    assert r.returncode == 2, r.stderr
    err = _error_line(r.stderr)
    assert "lin_cdf_match_2018.nc" in err and "could not be written" in err
    assert done.read_bytes() == before  # the finished chunk is intact
    assert sorted(p.name for p in out.iterdir()) == ["lin_cdf_match_2017.nc"]  # no partial file, no temp file
    assert _fuse(two_year_chunks, out).returncode == 0  # with room again, the run resumes and completes
    assert (out / "lin_cdf_match_2018.nc").exists() and done.read_bytes() == before


def test_read_only_output_folder(two_year_chunks, tmp_path):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    cmd = _fuse_cmd(two_year_chunks, out)
    if os.geteuid() == 0:  # root ignores permissions: drop the capabilities that let it (a real refusal)
        import shutil

        if not shutil.which("setpriv"):
            pytest.skip("running as root without util-linux setpriv: cannot make a folder read-only for this process")
        drop = "-dac_override,-dac_read_search"
        cmd = ["setpriv", f"--inh-caps={drop}", f"--bounding-set={drop}"] + cmd
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    err = _error_line(r.stderr)
    assert str(out) in err and ("not writable" in err or "cannot write" in err)
    assert list(out.iterdir()) == []
