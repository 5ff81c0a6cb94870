"""Output safety, run through the real CLI in subprocesses: nothing this run did not create is deleted or
replaced without --overwrite, outputs never equal or hold inputs, a second writer is refused, dead runs'
temporary files are cleaned, and every refusal is one line (exit 2) that leaves the user's files as
they were."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from clirun import run_cli

CLI = [sys.executable, "-m", "stsg_bench.cli"]


def run(*args: str) -> subprocess.CompletedProcess:
    return run_cli(*args)


def refused(r: subprocess.CompletedProcess, *words: str) -> None:
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and r.stderr.strip().count("\n") == 0, r.stderr
    for w in words:
        assert w in r.stderr, r.stderr


def snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A tiny demo run: twin, products, results, report."""
    out = tmp_path_factory.mktemp("safety") / "demo"
    r = run("demo", "--preset", "tiny", "--methods", "noah_raw", "lin_cdf_match", "--out", str(out))
    assert r.returncode == 0, r.stderr
    return out


def test_report_into_the_folder_holding_its_results_is_refused(demo):
    before = snapshot(demo)
    refused(run("report", str(demo / "results.nc"), "--out", str(demo)), "holds the input")
    refused(run("report", str(demo / "results.nc"), "--out", str(demo), "--overwrite"), "holds the input")
    assert snapshot(demo) == before


def test_existing_outputs_need_overwrite(demo, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("precious")
    before = snapshot(tmp_path)
    refused(run("report", str(demo / "results.nc"), "--out", str(mine)), "exists", "--overwrite")
    refused(run("demo", "--preset", "tiny", "--methods", "noah_raw", "--out", str(mine)), "exists", "--overwrite")
    refused(run("twin", "--preset", "tiny", "--out", str(mine)), "exists", "--overwrite")
    f = tmp_path / "results.nc"
    f.write_text("not mine to lose")
    before = snapshot(tmp_path)
    refused(
        run(
            "score",
            "--case",
            str(demo / "case.nc"),
            "--products",
            str(demo / "products" / "noah_raw.nc"),
            "--out",
            str(f),
        ),
        "exists",
    )
    assert snapshot(tmp_path) == before and not list(tmp_path.glob(".*"))  # no hidden .old or temp left
    # with --overwrite the report replaces the folder as a whole
    r = run("report", str(demo / "results.nc"), "--out", str(mine), "--overwrite")
    assert r.returncode == 0, r.stderr
    assert (mine / "index.html").exists() and not (mine / "notes.txt").exists()


def test_outputs_equal_to_or_inside_inputs_are_refused(demo, tmp_path):
    case = demo / "case.nc"
    product = demo / "products" / "noah_raw.nc"
    before = snapshot(demo)
    refused(
        run("fuse", "--method", "noah_raw", "--case", str(case), "--out", str(case), "--overwrite"), "also an input"
    )
    refused(
        run("score", "--case", str(case), "--products", str(product), "--out", str(product), "--overwrite"),
        "also an input",
    )
    ismn = demo / "twin" / "ismn"
    refused(
        run(
            "score", "--case", str(case), "--products", str(product), "--insitu", str(ismn), "--out", str(ismn / "r.nc")
        ),
        "inside the input folder",
    )
    assert snapshot(demo) == before


def test_check_update_is_atomic_and_tolerances_must_exist(demo, tmp_path):
    ref = tmp_path / "ref"
    r = run("check", str(demo / "results.nc"), "--reference", str(ref), "--update")
    assert r.returncode == 0 and (ref / "results.nc").exists()
    refused(
        run("check", str(demo / "results.nc"), "--reference", str(ref), "--tolerances", str(tmp_path / "nope.toml")),
        "nope.toml",
    )
    assert not [p for p in ref.iterdir() if p.name.startswith(".")]


def test_second_writer_is_refused_and_stale_locks_and_temps_are_cleaned(demo, tmp_path):
    out = tmp_path / "r.nc"
    lock = tmp_path / ".r.nc.stsg-lock"
    lock.write_text(f"stsg-bench lock pid {os.getpid()}")  # a live run (this test process) holds the output
    args = [
        "score",
        "--case",
        str(demo / "case.nc"),
        "--products",
        str(demo / "products" / "noah_raw.nc"),
        "--out",
        str(out),
    ]
    refused(run(*args), "another stsg-bench run", str(os.getpid()))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = dead.stdout.strip()
    lock.write_text(f"stsg-bench lock pid {pid}")  # a dead run's lock and temporary file
    stale = tmp_path / f".r.nc.{pid}.abc12345.stsg-tmp"
    stale.write_text("half-written")
    r = run(*args)
    assert r.returncode == 0, r.stderr
    assert out.exists() and not lock.exists() and not stale.exists()


def test_unwritable_output_is_found_before_any_work(demo, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = run("demo", "--preset", "tiny", "--out", str(blocker / "sub"))
    refused(r, str(blocker))
    assert "twin" not in r.stdout
