"""Per-year chunked products: a run killed after its first chunk resumes and equals an uninterrupted run."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stsg_bench.errors import InputError
from stsg_bench.workflows.archive import open_chunked

#: run with this test plug-in, ``fuse`` dies (status 137) right after its first chunk
KILL_AFTER_FIRST_CHUNK = "kill_after_first_chunk"


@pytest.fixture(scope="module")
def two_year_case(tmp_path_factory):
    from stsg_bench.case import save_case
    from stsg_bench.twin import generate_twin

    path = tmp_path_factory.mktemp("arch") / "case.nc"
    save_case(generate_twin("tiny", seed=2, ndays=800, n_stations=0).case, path)  # 2017-01-01 .. 2019-03-11
    return path


def _fuse(case, out, plugin=None):
    cmd = [
        sys.executable,
        "-m",
        "stsg_bench.cli",
        *(["--plugin", plugin] if plugin else []),
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
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(cmd, env=env, capture_output=True, text=True)


@pytest.mark.slow  # kills a subprocess mid-run
def test_killed_run_resumes_identically(two_year_case, tmp_path):
    full = _fuse(two_year_case, tmp_path / "full")
    assert full.returncode == 0, full.stderr
    killed = _fuse(two_year_case, tmp_path / "res", KILL_AFTER_FIRST_CHUNK)
    assert killed.returncode == 137
    assert sorted(p.name for p in (tmp_path / "res").glob("*.nc")) == ["lin_cdf_match_2017.nc"]
    first = (tmp_path / "res" / "lin_cdf_match_2017.nc").stat().st_mtime_ns
    resumed = _fuse(two_year_case, tmp_path / "res")
    assert resumed.returncode == 0, resumed.stderr
    assert (tmp_path / "res" / "lin_cdf_match_2017.nc").stat().st_mtime_ns == first  # finished chunk untouched
    a, b = open_chunked(tmp_path / "full", "lin_cdf_match"), open_chunked(tmp_path / "res", "lin_cdf_match")
    assert a.sizes["time"] == 800
    np.testing.assert_array_equal(a.values, b.values)


@pytest.mark.slow  # kills a subprocess mid-run, then starts another
def test_corrupted_chunk_is_a_clear_error(two_year_case, tmp_path):
    out = tmp_path / "c"
    assert _fuse(two_year_case, out, KILL_AFTER_FIRST_CHUNK).returncode == 137
    (out / "lin_cdf_match_2018.nc").write_bytes(b"\x89HDF\r\n garbage")  # a broken file where a chunk should be
    r = _fuse(two_year_case, out)
    assert r.returncode == 2
    assert "lin_cdf_match_2018.nc" in r.stderr and "not a readable product chunk" in r.stderr
    assert (out / "lin_cdf_match_2017.nc").exists()


def test_open_chunked_missing(tmp_path):
    with pytest.raises(InputError, match="no chunk files"):
        open_chunked(tmp_path, "starfm")
