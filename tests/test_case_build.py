"""Archive-scale case builds (``stsg-bench case CARD --chunk-days N``) from a synthetic native archive
(SPL3SMP + GLDAS granules written by the package's writers): the chunks equal the in-memory build, a rerun
resumes, and mismatched reruns are refused."""

from __future__ import annotations

import numpy as np
import pytest
from clirun import run_cli

from stsg_bench.cards import build_case_from_card, bundle_from_case, load_card
from stsg_bench.errors import InputError
from stsg_bench.io.lazy import open_case_lazy
from stsg_bench.twin.native import write_native_archive

BBOX = ["-103", "33.5", "-94", "37.5"]  # Oklahoma and around: 12 x 25 cells
pytestmark = pytest.mark.slow  # end to end: global granules decoded, worker processes started


@pytest.fixture(scope="module")
def card(tmp_path_factory):
    folder = tmp_path_factory.mktemp("native")
    smap, gldas = write_native_archive(folder / "archive", "2017-01-01", 5, distinct=2)
    path = folder / "ok.toml"
    res = run_cli("card", "new", "ok", "--bbox", *BBOX, "--period", "2017-01-01", "2017-01-05",
                  "--smap", str(smap), "--gldas", str(gldas), "--out", str(path))  # fmt: skip
    assert res.returncode == 0, res.stderr
    return path


def _same(chunked, whole) -> None:
    for v in ("smap", "smap_quality", "noah", "land"):
        np.testing.assert_array_equal(chunked[v].values, whole[v].values, err_msg=v)
    np.testing.assert_array_equal(chunked["time"].values, whole["time"].values)


def test_chunks_equal_the_in_memory_case(card, tmp_path):
    """Built by worker processes (the default scheduler); the synchronous one builds in the tests below."""
    whole, _ = build_case_from_card(card)
    out = tmp_path / "case"
    res = run_cli("case", str(card), "--out", str(out), "--chunk-days", "2", "--scheduler", "processes")
    assert res.returncode == 0, res.stderr
    assert "3 chunk files (3 built, 0 already there), 5 days" in res.stdout
    assert sorted(p.name for p in out.glob("case_*.nc")) == ["case_20170101.nc", "case_20170103.nc", "case_20170105.nc"]
    _same(open_case_lazy(out).load(), whole)


def test_a_rerun_resumes_and_mismatches_are_refused(card, tmp_path):
    out = tmp_path / "case"
    build = ["case", str(card), "--out", str(out), "--scheduler", "synchronous"]
    assert run_cli(*build, "--chunk-days", "2").returncode == 0
    first = open_case_lazy(out).load()
    (out / "case_20170103.nc").unlink()  # as if killed before that chunk was written
    res = run_cli(*build, "--chunk-days", "2")
    assert res.returncode == 0 and "(1 built, 2 already there)" in res.stdout
    _same(open_case_lazy(out).load(), first)
    res = run_cli(*build, "--chunk-days", "3")
    assert res.returncode == 2 and "another chunk_days (2, now 3)" in res.stderr and "--restart" in res.stderr
    assert res.stderr.strip().count("\n") == 0
    res = run_cli(*build, "--chunk-days", "3", "--restart")
    assert res.returncode == 0 and "2 chunk files (2 built" in res.stdout
    _same(open_case_lazy(out).load(), first)


def test_chunk_folders_that_are_not_ours_and_twin_cards_are_refused(card, tmp_path):
    out = tmp_path / "foreign"
    out.mkdir()
    (out / "case_20170101.nc").write_bytes(b"not ours")
    res = run_cli("case", str(card), "--out", str(out), "--chunk-days", "2")
    assert res.returncode == 2 and "no build.json" in res.stderr
    assert (out / "case_20170101.nc").read_bytes() == b"not ours"
    res = run_cli("case", "twin-tiny", "--out", str(tmp_path / "t"), "--chunk-days", "3")
    assert res.returncode == 2 and "twin --chunk-days" in res.stderr


def test_run_case_must_come_from_the_card(card, tmp_path):
    out = tmp_path / "case"
    assert (
        run_cli("case", str(card), "--out", str(out), "--chunk-days", "5", "--scheduler", "synchronous").returncode == 0
    )
    bundle = bundle_from_case(load_card(card), out)
    assert bundle.case.sizes["time"] == 5 and bundle.provenance["card"] == "ok"
    with pytest.raises(InputError, match="built from card 'ok', not 'hawaii'"):
        bundle_from_case(load_card("hawaii"), out)
