"""Products know their grid and case; the validation settings travel whole with the case; outputs carry
provenance without absolute paths. Through the real CLI (subprocesses), as a user meets them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from clirun import run_cli

from stsg_bench import resources
from stsg_bench.cards import validation_from_case
from stsg_bench.case import open_case, save_case
from stsg_bench.provenance import case_fingerprint, file_identity, from_attr, relative_name
from stsg_bench.validation import ValidationConfig

CLI = [sys.executable, "-m", "stsg_bench.cli"]


def run(*args) -> subprocess.CompletedProcess:
    return run_cli(*args)


def one_line_error(r: subprocess.CompletedProcess, *words: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    err = r.stderr.strip()
    assert "Traceback" not in err and err.count("\n") == 0, err
    for w in words:
        assert w in err, err


@pytest.fixture(scope="module")
def fused(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("identity")
    assert run("twin", "--preset", "tiny", "--out", d / "twin").returncode == 0
    r = run("fuse", "--method", "lin_cdf_match", "--case", d / "twin" / "case.nc", "--out", d / "p.nc")
    assert r.returncode == 0, r.stderr
    return d


def _score(d: Path, product: Path, out: str = "r.nc") -> subprocess.CompletedProcess:
    return run(
        "score", "--case", d / "twin" / "case.nc", "--products", product, "--insitu", d / "twin" / "ismn", "--out",
        d / out, "--overwrite",
    )  # fmt: skip


def test_product_carries_case_fingerprint_and_provenance(fused):
    case = open_case(fused / "twin" / "case.nc")
    with xr.open_dataset(fused / "p.nc") as ds:
        assert ds.attrs["case_fingerprint"] == case_fingerprint(case)
        sw = from_attr(ds.attrs["software"])
        assert sw["stsg_bench"] and sw["git_commit"] and sw["kernels"].startswith("fast")
        assert ds.attrs["case"] == "twin/case.nc"  # relative to the output's folder, never absolute


@pytest.mark.parametrize("how", ["shifted_rows", "shifted_x", "flipped", "other_case"])
def test_score_refuses_a_product_off_the_case(fused, tmp_path, how):
    with xr.open_dataset(fused / "p.nc") as ds:
        bad = ds.load()
    if how == "shifted_rows":
        bad = bad.assign_coords(row=bad["row"] + 2)
        words = ["bad.nc", "row", "another window"]
    elif how == "shifted_x":
        bad = bad.assign_coords(x=bad["x"] + 36032.0)
        words = ["bad.nc", "another window"]
    elif how == "flipped":
        bad = bad.isel(y=slice(None, None, -1))
        words = ["bad.nc", "flipped"]
    else:
        bad.attrs["case_fingerprint"] = "0123456789abcdef"
        words = ["bad.nc", "another case"]
    bad.to_netcdf(tmp_path / "bad.nc")
    one_line_error(_score(fused, tmp_path / "bad.nc", "bad_r.nc"), *words)
    assert not (fused / "bad_r.nc").exists()


def test_score_and_report_tie_results_to_their_case(fused, tmp_path):
    r = _score(fused, fused / "p.nc")
    assert r.returncode == 0, r.stderr
    res = xr.open_dataset(fused / "r.nc")
    case = open_case(fused / "twin" / "case.nc")
    assert res.attrs["case_fingerprint"] == case_fingerprint(case)
    prov = from_attr(res.attrs["provenance"])
    assert prov["products"][0]["name"] == "p.nc" and len(prov["products"][0]["sha256"]) == 64
    assert str(fused) not in " ".join(str(v) for v in res.attrs.values())
    res.close()
    other = case.isel(time=slice(1, None))  # another case: one day less
    save_case(other, tmp_path / "other.nc")
    one_line_error(
        run("report", fused / "r.nc", "--out", tmp_path / "rep", "--case", tmp_path / "other.nc"), "another case"
    )
    assert not (tmp_path / "rep").exists()


def test_whole_validation_config_travels_in_the_case(tmp_path):
    cfg = ValidationConfig(
        depth=(0.0, 0.2), networks=("SCAN",), tc_partner="era5_land", windows=(("wet", "2018-01-01", "2018-03-31"),)
    )
    from stsg_bench.cards import validation_attrs

    ds = xr.Dataset(attrs=validation_attrs(cfg))
    assert validation_from_case(ds) == cfg


def test_networks_filter_stations_and_windows_must_overlap(fused, tmp_path):
    case = open_case(fused / "twin" / "case.nc")
    from stsg_bench.cards import validation_attrs

    nets = sorted({p.parent.parent.name for p in (fused / "twin" / "ismn").rglob("*.stm")})
    case.attrs.update(validation_attrs(ValidationConfig(networks=(nets[0] + "_none",))))
    save_case(case, tmp_path / "case.nc")
    r = run("score", "--case", tmp_path / "case.nc", "--products", fused / "p.nc", "--insitu", fused / "twin" / "ismn",
            "--out", tmp_path / "r.nc")  # fmt: skip
    assert r.returncode == 0, r.stderr
    with xr.open_dataset(tmp_path / "r.nc") as res:
        assert (
            "insitu" not in [str(x) for x in res["reference"].values]
            or int(res["n"].sel(reference="insitu", group="pooled", split="all", window="all").max()) == 0
        )
    case.attrs.update(validation_attrs(ValidationConfig(windows=(("late", "2030-01-01", "2030-02-01"),))))
    save_case(case, tmp_path / "case2.nc")
    one_line_error(
        run("score", "--case", tmp_path / "case2.nc", "--products", fused / "p.nc", "--insitu", fused / "twin" / "ismn",
            "--out", tmp_path / "r2.nc"),
        "window 'late'", "shares no day",
    )  # fmt: skip


def test_tc_partner_typo_in_a_card_is_an_error(tmp_path):
    card = resources.find("datasets", "twin-tiny").read_text()
    assert "[ismn]" in card
    card = card.replace("[ismn]", '[ismn]\ntc_partner = "noah_rwa"', 1)
    (tmp_path / "card.toml").write_text(card)
    one_line_error(run("run", tmp_path / "card.toml", "--out", tmp_path / "out"), "noah_rwa", "tc_partner")


def test_relative_names_and_file_identity(tmp_path):
    f = tmp_path / "sub" / "x.nc"
    f.parent.mkdir()
    f.write_bytes(b"abc")
    assert relative_name(f, [tmp_path]) == "sub/x.nc"
    assert relative_name(Path("/nonexistent/elsewhere/y.nc"), [tmp_path]) == "y.nc"
    ident = file_identity(f, [tmp_path])
    assert ident == {
        "name": "sub/x.nc",
        "size": 3,
        "sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    }
    folder = file_identity(tmp_path, [tmp_path.parent])
    assert folder["files"] == 1 and folder["size"] == 3 and len(folder["sha256"]) == 64
    assert np.isscalar(folder["size"])
