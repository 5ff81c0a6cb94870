"""The wheel is self-contained: installed into a fresh venv and run from a folder outside the checkout, its
``stsg-bench`` finds the packaged dataset cards, method configs and gate reference (the gate itself runs
from the wheel in ``tests/test_gate.py``)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import xarray as xr
from wheel_env import build

from stsg_bench.provenance import from_attr

pytestmark = pytest.mark.slow
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("wheel")
    return build(folder), folder / "cwd"


def _cli(wheel, *args: str) -> subprocess.CompletedProcess:
    bin_, cwd = wheel
    return subprocess.run([str(bin_ / "stsg-bench"), *args], cwd=cwd, capture_output=True, text=True)


def test_packaged_names_resolve_from_the_wheel(wheel):
    bin_, cwd = wheel
    code = (
        "from stsg_bench import resources; "
        "print(resources.find('datasets', 'hawaii')); print(resources.find('baselines', 'starfm')); "
        "print(resources.find('reference', 'gate'))"
    )
    out = subprocess.run([str(bin_ / "python"), "-c", code], cwd=cwd, capture_output=True, text=True, check=True)
    paths = [Path(p) for p in out.stdout.split()]
    assert len(paths) == 3 and all(p.is_file() and p.is_relative_to(bin_.parent) for p in paths), paths
    assert (paths[2].parent / "results.nc").is_file() and (paths[2].parent / "tolerances.toml").is_file()


def test_unknown_packaged_names_are_one_line_errors(wheel, tmp_path):
    res = _cli(wheel, "case", "atlantis", "--out", str(tmp_path / "c.nc"))
    assert res.returncode == 2 and "unknown dataset card 'atlantis'" in res.stderr and "hawaii" in res.stderr
    res = _cli(wheel, "train", "--case", str(tmp_path / "c.nc"), "--config", "nosuch", "--out", str(tmp_path / "k"))
    assert res.returncode == 2 and "nosuch" in res.stderr and "drcgan" in res.stderr
    assert res.stderr.strip().count("\n") == 0


@pytest.mark.realdata
@pytest.mark.skipif(not DATA.is_dir(), reason=f"needs the shared data folder {DATA}")
def test_case_hawaii_from_the_wheel(wheel, tmp_path):
    out = tmp_path / "hawaii.nc"
    res = _cli(wheel, "case", "hawaii", "--data-root", str(DATA), "--out", str(out))
    assert res.returncode == 0, res.stderr
    with xr.open_dataset(out) as ds:
        assert (ds.sizes["time"], ds.sizes["y"], ds.sizes["x"]) == (730, 13, 15)  # the packaged card's window
        assert {"smap", "noah", "land"} <= set(ds.data_vars)
        assert from_attr(ds.attrs["provenance"])["card"] == "hawaii"
