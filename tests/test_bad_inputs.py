"""Bad or hostile inputs through the real CLI (subprocesses): every one is a one-line error with exit 2
(or a reported per-station status), never a traceback, never a silently wrong result. One test per
category of issue 15: edge validation, physical sanity, consistency, degenerate inputs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from clirun import run_cli

from stsg_bench import resources
from stsg_bench.case import open_case, save_case

CLI = [sys.executable, "-m", "stsg_bench.cli"]


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return run_cli(*args, env=env)


def one_line_error(r: subprocess.CompletedProcess, *words: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    err = r.stderr.strip()
    assert "Traceback" not in err and err.count("\n") == 0 and "error:" in err, err
    for w in words:
        assert w in err, err


@pytest.fixture(scope="module")
def twin(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bad") / "twin"
    r = run("twin", "--preset", "tiny", "--out", out)
    assert r.returncode == 0, r.stderr
    return out


# -- validation at the edge --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args, words",
    [
        (["twin", "--preset", "tiny", "--days", "0", "--out", "o"], ["--days", ">= 1"]),
        (["twin", "--preset", "tiny", "--days", "-3", "--out", "o"], ["--days"]),
        (["twin", "--preset", "tiny", "--seed", "-1", "--out", "o"], ["--seed", ">= 0"]),
        (["twin", "--preset", "nosuch", "--out", "o"], ["nosuch", "tiny"]),
        (["twin", "--preset", "small", "--days", "90000000", "--out", "o"], ["--chunk-days"]),
        (["fuse", "--method", "noah_raw", "--case", "c.nc", "--out", "p.nc", "--device", "bogus"], ["bogus"]),
        (
            ["fuse", "--method", "noah_raw", "--case", "c.nc", "--out", "p.nc", "--period", "2017-02-30", "2017-03-01"],
            ["2017-02-30"],
        ),
        (["fuse", "--method", "magic", "--case", "c.nc", "--out", "p.nc"], ["magic"]),
        (["score", "--case", "c.nc", "--products", "p.nc", "--out", "r.nc", "--chunk-days", "0"], ["--chunk-days"]),
        (["score", "--case", "c.nc", "--products", "p.nc", "--out", "r.nc", "--min-obs", "x"], ["--min-obs"]),
        (["--threads", "0", "methods"], ["--threads"]),
        (["demo", "--preset", "tiny", "--seed", "-5"], ["--seed"]),
    ],
)
def test_bad_options(tmp_path, args, words):
    args = [str(tmp_path / a) if a in ("o", "c.nc", "p.nc", "r.nc") else a for a in args]
    one_line_error(run(*args), *words)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "text, words",
    [
        ('method = "drcgan"\n[config]\nlr = "fast"\n', ["lr", "fast"]),
        ('method = "drcgan"\n[config]\nsteps = -5\n', ["steps", ">= 1"]),
        ('method = "drcgan"\n[config]\nbatch_size = 0\n', ["batch_size"]),
        ('method = "drcgan"\n[config]\nstep = 5\n', ["did you mean 'steps'"]),
        ('method = "lin_cdf_match"\n[config]\nmin_common_days = "many"\n', ["min_common_days"]),
        ('method = "starfm"\n[config]\nwindow = 4\n', ["window"]),
    ],
)
def test_bad_method_configs(twin, tmp_path, text, words):
    cfg = tmp_path / "m.toml"
    cfg.write_text(text)
    method = text.split('"')[1]
    one_line_error(
        run("fuse", "--method", method, "--case", twin / "case.nc", "--config", cfg, "--out", tmp_path / "p.nc"), *words
    )
    assert not (tmp_path / "p.nc").exists()


def test_undecodable_and_conflicting_configs(twin, tmp_path):
    bad = tmp_path / "latin1.toml"
    bad.write_bytes('method = "noah_raw"\n# caf\xe9\n'.encode("latin-1"))
    one_line_error(
        run("fuse", "--method", "noah_raw", "--case", twin / "case.nc", "--config", bad, "--out", tmp_path / "p.nc"),
        "UTF-8",
    )
    card = tmp_path / "card.toml"
    card.write_text('kind = "twin"\npreset = "nosuch"\n')
    one_line_error(run("case", card, "--out", tmp_path / "c.nc"), "preset", "nosuch")
    cfg = Path(__file__).resolve().parents[1] / "stsg_bench" / "resources" / "baselines" / "drcgan.toml"
    one_line_error(
        run(
            "fuse",
            "--method",
            "drcgan",
            "--case",
            twin / "case.nc",
            "--config",
            cfg,
            "--checkpoint",
            tmp_path / "x.pt",
            "--out",
            tmp_path / "p.nc",
        ),
        "not both",
    )


# -- physical sanity ---------------------------------------------------------------------------------
def test_no_method_writes_impossible_soil_moisture(tiny_case):
    from stsg_bench.methods import get_method

    for name in ("lin_cdf_match", "mean_std"):
        p = get_method(name).fit(tiny_case, ("2017-01-01", "2017-02-28")).predict(tiny_case)
        v = p.values[np.isfinite(p.values)]
        assert v.min() >= 0.0 and v.max() <= 1.0
        assert p.attrs["clamped_below_0"] >= 0 and "clamped_above_max" in p.attrs


def test_product_and_station_in_percent(twin, tmp_path):
    prod = tmp_path / "noah.nc"
    assert run("fuse", "--method", "noah_raw", "--case", twin / "case.nc", "--out", prod).returncode == 0
    ds = xr.open_dataset(prod).load()
    ds["sm"] = ds["sm"] * 100
    ds["sm"].attrs["units"] = "m3 m-3"
    ds.to_netcdf(tmp_path / "percent.nc")
    one_line_error(
        run("score", "--case", twin / "case.nc", "--products", tmp_path / "percent.nc", "--out", tmp_path / "r.nc"),
        "percent.nc",
        "[sm]",
        "percent",
    )
    ds["sm"].attrs["units"] = "%"
    ds.to_netcdf(tmp_path / "units.nc")
    one_line_error(
        run("score", "--case", twin / "case.nc", "--products", tmp_path / "units.nc", "--out", tmp_path / "r.nc"),
        "units '%'",
    )
    # a station in percent: dropped with status out_of_range and reported, the rest scored
    ismn = tmp_path / "ismn"
    subprocess.run(["cp", "-r", str(twin / "ismn"), str(ismn)], check=True)
    stm = sorted(ismn.rglob("*_sm_0.050000_*.stm"))[0]
    lines = stm.read_text().splitlines()
    out_lines = [lines[0]]
    for line in lines[1:]:
        parts = line.split()
        parts[2] = f"{float(parts[2]) * 100:.2f}"
        out_lines.append(" ".join(parts))
    stm.write_text("\n".join(out_lines) + "\n")
    r = run("score", "--case", twin / "case.nc", "--products", prod, "--insitu", ismn, "--out", tmp_path / "r.nc")
    assert r.returncode == 0, r.stderr
    status = xr.open_dataset(tmp_path / "r.nc")["station_status"].values[0]
    assert list(status).count("out_of_range") == 1 and list(status).count("ok") >= 1


# -- consistency -------------------------------------------------------------------------------------
def test_case_with_a_hole_and_chunks_on_another_window(twin, tmp_path):
    case = open_case(twin / "case.nc")
    holey = case.isel(time=np.r_[0:30, 50 : case.sizes["time"]])
    path = tmp_path / "holey.nc"
    holey.to_netcdf(path)  # written by another tool: the validator must refuse it on reading
    one_line_error(run("fuse", "--method", "noah_raw", "--case", path, "--out", tmp_path / "p.nc"), "not a daily axis")
    folder = tmp_path / "chunks"
    folder.mkdir()
    save_case(case.isel(time=slice(0, 60)), folder / "case_20170101.nc")
    shifted = case.isel(time=slice(60, None)).assign_coords(row=case["row"] + 1)
    save_case(shifted, folder / "case_20170302.nc")
    one_line_error(
        run("fuse", "--method", "noah_raw", "--case", folder, "--chunk-by-year", "--out", tmp_path / "out"),
        "window differs",
    )


def test_resume_with_another_training_period_needs_restart(twin, tmp_path):
    out = tmp_path / "years"
    base = ["fuse", "--method", "lin_cdf_match", "--case", twin / "case.nc", "--chunk-by-year", "--out", out]
    assert run(*base, "--train-period", "2017-01-01", "2017-02-28").returncode == 0
    one_line_error(run(*base, "--train-period", "2017-01-01", "2017-03-31"), "run_fingerprint", "--restart")
    assert run(*base, "--train-period", "2017-01-01", "2017-03-31", "--restart").returncode == 0
    assert run(*base, "--train-period", "2017-01-01", "2017-03-31").returncode == 0  # now it resumes


def test_card_window_one_row_off(tmp_path):
    data = Path(__file__).resolve().parents[2] / "shared" / "data"
    if not (data / "real").is_dir():
        pytest.skip("real data folder not found beside the repository")
    card = resources.find("datasets", "hawaii").read_text()
    (tmp_path / "off.toml").write_text(card.replace("row0 = 125, row1 = 138", "row0 = 126, row1 = 139"))
    one_line_error(
        run("case", tmp_path / "off.toml", "--out", tmp_path / "c.nc", "--data-root", data), "grid.window", "rows"
    )


# -- degenerate inputs -------------------------------------------------------------------------------
def test_degenerate_cases(twin, tmp_path):
    case = open_case(twin / "case.nc")
    ocean = case.copy()
    ocean["land"] = xr.zeros_like(case["land"])
    ocean["noah"] = case["noah"].where(False)
    ocean.to_netcdf(tmp_path / "ocean.nc")
    one_line_error(
        run("fuse", "--method", "noah_raw", "--case", tmp_path / "ocean.nc", "--out", tmp_path / "p.nc"), "no land cell"
    )
    dry = case.copy()
    dry["smap"] = case["smap"].where(False)
    save_case(dry, tmp_path / "nosmap.nc")
    one_line_error(
        run("fuse", "--method", "lin_cdf_match", "--case", tmp_path / "nosmap.nc", "--out", tmp_path / "p.nc"),
        "no usable SMAP",
    )
    one_line_error(
        run(
            "fuse",
            "--method",
            "noah_raw",
            "--case",
            twin / "case.nc",
            "--out",
            tmp_path / "p.nc",
            "--train-period",
            "2030-01-01",
            "2030-02-01",
        ),
        "selects no day",
    )
    assert not (tmp_path / "p.nc").exists()


def test_no_station_matched_is_an_error_and_duplicates_are_reported(twin, tmp_path):
    prod = tmp_path / "noah.nc"
    assert run("fuse", "--method", "noah_raw", "--case", twin / "case.nc", "--out", prod).returncode == 0
    case = open_case(twin / "case.nc")
    notruth = case.drop_vars("truth")
    save_case(notruth, tmp_path / "case.nc")
    empty = tmp_path / "empty_ismn"
    empty.mkdir()
    one_line_error(
        run("score", "--case", tmp_path / "case.nc", "--products", prod, "--insitu", empty, "--out", tmp_path / "r.nc"),
        "nothing could be scored",
    )
    dup = tmp_path / "dup"
    subprocess.run(["cp", "-r", str(twin / "ismn"), str(dup)], check=True)
    first = sorted(dup.rglob("*_sm_0.050000_*.stm"))[0]
    stale = first.with_name(first.name[:-12] + "20170331.stm")  # an older download of the same sensor
    subprocess.run(["cp", str(first), str(stale)], check=True)
    r = run("score", "--case", tmp_path / "case.nc", "--products", prod, "--insitu", dup, "--out", tmp_path / "r2.nc")
    assert r.returncode == 0, r.stderr
    assert (
        "duplicate_sensor" in xr.open_dataset(tmp_path / "r2.nc").attrs.get("notes", "")
        or "duplicate" in r.stderr + r.stdout
    )


def test_unsorted_smap_file_and_weightless_checkpoint(twin, tmp_path):
    import torch

    from stsg_bench.errors import InputError
    from stsg_bench.fusion import load_checkpoint
    from stsg_bench.io.smap import read_smap_window_netcdf

    t = np.array(["2017-01-02", "2017-01-01", "2017-01-03"], dtype="datetime64[ns]")
    ds = xr.Dataset(
        {v: (("time", "y", "x"), np.zeros((3, 2, 2))) for v in ("soil_moisture_am", "retrieval_qual_flag_am")},
        coords={"time": t, "row": ("y", [10, 11]), "col": ("x", [20, 21])},
    )
    ds.to_netcdf(tmp_path / "smap.nc")
    with pytest.raises(InputError, match=r"smap.nc \[time\]: time stamps are duplicated or not increasing"):
        read_smap_window_netcdf(tmp_path / "smap.nc")
    torch.save({"format": "stsg-bench-drcgan", "version": 1}, tmp_path / "empty.pt")
    with pytest.raises(InputError, match=r"empty.pt \[(format|nets)\]"):
        load_checkpoint(tmp_path / "empty.pt")
    one_line_error(
        run(
            "fuse",
            "--method",
            "drcgan",
            "--case",
            twin / "case.nc",
            "--checkpoint",
            tmp_path / "empty.pt",
            "--out",
            tmp_path / "p.nc",
        ),
        "empty.pt",
    )
