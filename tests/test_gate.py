"""The accuracy gate: the committed regression case reproduces the committed reference on this machine
and on a simulated other one (reproducible kernels: bitwise), and deliberately degraded methods fail it.

The gate runs in subprocesses, as CI and users run it: its kernels must be pinned before torch's first
operation, which a pytest process has long passed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stsg_bench.cli import main
from stsg_bench.files import read_toml
from stsg_bench.provenance import from_attr
from stsg_bench.validation import open_results, save_results

ROOT = Path(__file__).resolve().parents[1]
REF = ROOT / "stsg_bench" / "resources" / "reference"
CLI = [sys.executable, "-m", "stsg_bench.cli"]
#: what an AVX2-only x86-64 machine selects by itself (the reproducible mode pins these anyway)
AVX2_MACHINE = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
KNOBS = (*AVX2_MACHINE, "MKL_CBWR", "STSG_KERNELS", "STSG_THREADS")

pytestmark = pytest.mark.slow


def _env(**extra: str) -> dict:
    return {**{k: v for k, v in os.environ.items() if k not in KNOBS}, **extra}


def _start_gate(config: Path, out: Path, env: dict) -> subprocess.Popen:
    log = open(out.parent / f"{out.name}.log", "w")
    return subprocess.Popen(
        CLI + ["run", str(config), "--out", str(out)], stdout=log, stderr=subprocess.STDOUT, env=env
    )


def _finish(proc: subprocess.Popen, out: Path) -> Path:
    rc = proc.wait()
    assert rc == 0, (out.parent / f"{out.name}.log").read_text()[-3000:]
    return out / "results.nc"


#: the two gate runs, started in the background as soon as the session knows it will run this module
#: (``conftest.pytest_collection_finish``; under xdist by this module's worker, when it gets here): each is
#: one pinned thread, so on a 2-core machine they use the CPU time the other tests leave idle
_STARTED: dict[str, tuple[subprocess.Popen, Path]] = {}


def _start_gate_from_wheel(folder: Path, out: Path, env: dict) -> subprocess.Popen:
    """The gate as a user with only the wheel runs it: build and install the wheel into a fresh venv
    (``tests/wheel_env.py``), then ``stsg-bench run gate`` from an empty folder outside the checkout (the
    run config, its card and the methods' configs come from the installed package's data)."""
    log = open(out.parent / f"{out.name}.log", "w")
    script = 'set -e; "$1" "$2" "$3"; cd "$3/cwd"; exec "$3/venv/bin/stsg-bench" run gate --out "$4"'
    args = [sys.executable, str(Path(__file__).with_name("wheel_env.py")), str(folder), str(out)]
    return subprocess.Popen(["bash", "-c", script, "bash", *args], stdout=log, stderr=subprocess.STDOUT, env=env)


def start_gate_runs(folder: Path) -> None:
    """Start the gate run here and, at the same time, from the installed wheel on a simulated AVX2-only
    machine (once)."""
    if _STARTED:
        return
    folder.mkdir(parents=True, exist_ok=True)
    _STARTED["here"] = (_start_gate(REF / "gate.toml", folder / "here", _env()), folder / "here")
    there = _start_gate_from_wheel(folder / "wheel", folder / "there", _env(**AVX2_MACHINE))
    _STARTED["there"] = (there, folder / "there")


@pytest.fixture(scope="module")
def gate_runs(tmp_path_factory):
    """The gate run here and on a simulated AVX2-only machine (started early when possible)."""
    start_gate_runs(tmp_path_factory.mktemp("gate"))
    return _finish(*_STARTED["here"]), _finish(*_STARTED["there"])


@pytest.fixture(scope="module")
def gate_results(gate_runs):
    return gate_runs[0]


def test_gate_passes_on_regression_case(gate_results, capsys):
    assert main(["check", str(gate_results), "--reference", str(REF)]) == 0
    assert "gate passed" in capsys.readouterr().out


def test_gate_is_bitwise_the_same_on_another_machine(gate_runs):
    """... and from the installed wheel (its packaged reference is the default of its ``check``)."""
    here, there = (open_results(p) for p in gate_runs)
    for var in ("value", "ci_lower", "ci_upper", "n"):
        assert np.array_equal(here[var].values, there[var].values, equal_nan=True), var
    wheel = gate_runs[1].parents[1] / "wheel"
    check = subprocess.run(
        [str(wheel / "venv" / "bin" / "stsg-bench"), "check", str(gate_runs[1])],
        cwd=wheel / "cwd",
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0 and "gate passed" in check.stdout, check.stdout + check.stderr
    assert from_attr(there.attrs["provenance"])["run_config"]["path"].endswith("gate.toml")


def test_gate_results_carry_provenance_without_absolute_paths(gate_results):
    res = open_results(gate_results)
    prov = from_attr(res.attrs["provenance"])
    assert prov["software"]["kernels"].startswith("reproducible")
    assert prov["software"]["git_commit"]
    assert prov["run_config"]["kernels"] == "reproducible" and prov["run_config"]["path"].endswith("gate.toml")
    assert len(res.attrs["case_fingerprint"]) == 16
    text = " ".join(str(v) for v in res.attrs.values())
    for root in (str(gate_results.parent), str(ROOT), str(Path.home())):
        assert root not in text
    product = next((gate_results.parent / "products").glob("drcgan.nc"))
    import xarray as xr

    with xr.open_dataset(product) as ds:
        assert ds.attrs["case_fingerprint"] == res.attrs["case_fingerprint"]
        assert from_attr(ds.attrs["software"])["kernels"].startswith("reproducible")
        assert str(ROOT) not in " ".join(str(v) for v in ds.attrs.values())


def test_drcgan_beats_noah_and_cdf_in_gaps(gate_results):
    res = open_results(gate_results)
    gap = res["value"].sel(reference="truth", group="pooled", split="smap_gap", metric="RMSE", window="all")
    assert float(gap.sel({"product": "drcgan"})) < float(gap.sel({"product": "noah_raw"}))
    assert float(gap.sel({"product": "drcgan"})) < float(gap.sel({"product": "lin_cdf_match"}))


def _sub_reference(tmp_path: Path, methods: list[str]) -> Path:
    """The committed reference restricted to ``methods`` (with the committed tolerances)."""
    ref = open_results(REF / "results.nc")
    keep = [m for m in ref["product"].values if str(m) in methods]
    sub = tmp_path / "ref"
    sub.mkdir()
    save_results(ref.sel({"product": keep}), sub / "results.nc")
    (sub / "tolerances.toml").write_text((REF / "tolerances.toml").read_text())
    return sub


def test_gate_fails_drcgan_trained_a_tenth_of_the_steps(tmp_path, capsys):
    cfg = read_toml(REF / "gate.toml", "gate")
    steps = cfg["method_config"]["drcgan"]["steps"] // 10
    text = (REF / "gate.toml").read_text().replace(f"steps = {steps * 10}", f"steps = {steps}", 1)
    text = re.sub(r"\nmethods = \[.*?\]\n", "\n", text, count=1, flags=re.S)  # the gate's own list, replaced:
    text = 'methods = ["noah_raw", "drcgan"]\n' + text  # two products: the same-sample references exist
    (tmp_path / "degraded.toml").write_text(text)
    results = _finish(_start_gate(tmp_path / "degraded.toml", tmp_path / "out", _env()), tmp_path / "out")
    ref = _sub_reference(tmp_path, ["noah_raw", "drcgan"])
    assert main(["check", str(results), "--reference", str(ref)]) == 1
    out = capsys.readouterr().out
    assert "GATE FAILED" in out and "MISSING" not in out
    assert _worse_rows(out, "drcgan", ("truth", "insitu", "hidden_smap"))


def test_gate_fails_cdf_matching_with_an_added_bias(tmp_path, monkeypatch, capsys):
    """CDF matching is numpy only (its bits do not depend on the kernels): run in-process, 0.01 m3 m-3 added."""
    from stsg_bench.cards import build_bundle
    from stsg_bench.methods.base import method_class
    from stsg_bench.workflows.chain import RunConfig, run_chain

    cls = method_class("lin_cdf_match")
    predict = cls._predict
    monkeypatch.setattr(cls, "_predict", lambda self, case, out: predict(self, case, out) + 0.01)
    cfg = read_toml(REF / "gate.toml", "gate")
    methods = ["noah_raw", "lin_cdf_match"]
    run = RunConfig(
        dataset="twin-gate", methods=methods, simgap_fraction=cfg["simgap_fraction"], min_obs=cfg["min_obs"]
    )
    run.report = False
    (tmp_path / "out").mkdir()
    run_chain(build_bundle("twin-gate"), tmp_path / "out", run)
    ref = _sub_reference(tmp_path, methods)
    assert main(["check", str(tmp_path / "out" / "results.nc"), "--reference", str(ref)]) == 1
    out = capsys.readouterr().out
    assert "GATE FAILED" in out and "MISSING" not in out
    rows = _worse_rows(out, "lin_cdf_match", ("truth", "insitu"))
    assert any(r.split()[3] == "bias" for r in rows), rows


def _worse_rows(out: str, method: str, references: tuple[str, ...]) -> list[str]:
    """The gate's WORSE rows of ``method`` against ``references`` (not their same-sample variants)."""
    rows = [line for line in out.splitlines() if line.split()[:1] == [method] and line.endswith("WORSE")]
    return [r for r in rows if r.split()[1] in references]


def test_gate_refuses_results_of_another_case(gate_results, tmp_path, capsys):
    res = open_results(gate_results)
    other = res.copy(deep=True)
    other.attrs["case_fingerprint"] = "0" * 16
    save_results(other, tmp_path / "other.nc")
    assert main(["check", str(tmp_path / "other.nc"), "--reference", str(REF)]) == 2
    err = capsys.readouterr().err
    assert "other.nc" in err and "another case" in err and err.strip().count("\n") == 0


def test_gate_fails_on_injected_degradation(gate_results, tmp_path, capsys):
    res = open_results(gate_results)
    worse = res.copy(deep=True)
    sel = {
        "product": "drcgan",
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
