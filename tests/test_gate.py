"""The accuracy gate: the committed regression case must reproduce the committed reference within
tolerance, and an injected degradation must fail the gate."""

from pathlib import Path

import pytest

from stsg_bench.cli import main
from stsg_bench.validation import open_results, save_results

ROOT = Path(__file__).resolve().parents[1]
REF = ROOT / "reports" / "reference"


@pytest.fixture(scope="module")
def gate_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("gate")
    assert main(["run", str(REF / "gate.toml"), "--out", str(out)]) == 0
    return out / "results.nc"


def test_gate_passes_on_regression_case(gate_results, capsys):
    assert main(["check", str(gate_results), "--reference", str(REF)]) == 0
    assert "gate passed" in capsys.readouterr().out


def test_drcgan_beats_noah_and_cdf_in_gaps(gate_results):
    res = open_results(gate_results)
    gap = res["value"].sel(reference="truth", group="pooled", split="smap_gap", metric="RMSE", window="all")
    assert float(gap.sel({"method": "drcgan"})) < float(gap.sel({"method": "noah_raw"}))
    assert float(gap.sel({"method": "drcgan"})) < float(gap.sel({"method": "lin_cdf_match"}))


def test_gate_fails_on_injected_degradation(gate_results, tmp_path, capsys):
    res = open_results(gate_results)
    worse = res.copy(deep=True)
    sel = {
        "method": "drcgan",
        "reference": "insitu",
        "group": "pooled",
        "split": "all",
        "window": "all",
        "metric": "RMSE",
    }
    idx = tuple(list(worse[d].values).index(sel[d]) for d in worse["value"].dims)
    worse["value"].values[idx] += 0.01
    save_results(worse, tmp_path / "worse.nc")
    assert main(["check", str(tmp_path / "worse.nc"), "--reference", str(REF)]) == 1
    out = capsys.readouterr().out
    assert "GATE FAILED" in out and "drcgan" in out and "WORSE" in out


def test_gate_reports_improvement_and_update(gate_results, tmp_path, capsys):
    res = open_results(gate_results)
    better = res.copy(deep=True)
    better["value"].loc[{"metric": "RMSE"}] = better["value"].loc[{"metric": "RMSE"}] - 0.01
    save_results(better, tmp_path / "better.nc")
    assert main(["check", str(tmp_path / "better.nc"), "--reference", str(REF)]) == 0
    assert "--update" in capsys.readouterr().out
    ref_copy = tmp_path / "ref"
    assert main(["check", str(tmp_path / "better.nc"), "--reference", str(ref_copy), "--update"]) == 0
    assert (ref_copy / "results.nc").exists()
