"""``stsg-bench ismn check``: an ISMN download's networks, stations, sensors, depths, period and usable
share, counted from files written in ISMN's layout (and the real Hawai'i download)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from clirun import run_cli

from stsg_bench.io.ismn import StationSeries, write_header_values
from stsg_bench.io.ismn_check import summarize

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "hawaii" / "ismn"


def _sensor(network, station, depth, days=10, start="2017-03-01", bad_every=0, variable="sm") -> StationSeries:
    t = pd.date_range(start, periods=24 * days, freq="h")
    flags = np.array(["G"] * len(t), dtype=object)
    if bad_every:
        flags[::bad_every] = "D03"
    data = pd.DataFrame({"sm": np.full(len(t), 0.25), "flag": flags, "orig_flag": "M"}, index=t)
    return StationSeries(network, station, 20.0, -155.0, 100.0, depth, depth, "Probe", data, variable=variable)


@pytest.fixture
def download(tmp_path) -> Path:
    root = tmp_path / "ismn"
    write_header_values(_sensor("NETA", "S1", 0.05, bad_every=4), root)  # 75 % flagged G
    write_header_values(_sensor("NETA", "S1", 0.20), root)  # deeper than 0-0.1 m
    write_header_values(_sensor("NETA", "S2", 0.05, days=5, start="2017-02-01"), root)
    write_header_values(_sensor("NETB", "S9", 0.05, start="2018-01-01"), root)
    write_header_values(_sensor("NETB", "S9", 0.05, variable="ts"), root)  # soil temperature: not scored
    (root / "NETB" / "S9" / "NETB_NETB_S9_sm_0.100000_0.100000_Bad_20170101_20170102.stm").write_text("garbage\n")
    return root


def test_summary_counts_what_scoring_would_read(download):
    s = summarize(download, depth=(0.0, 0.1))
    t = s.table.set_index("network")
    assert list(t.index) == ["NETA", "NETB"]
    assert t.loc["NETA", ["stations", "sensors", "kept"]].tolist() == [2, 3, 2]
    assert t.loc["NETB", ["stations", "sensors", "kept"]].tolist() == [1, 1, 1]
    n_a = 24 * 10 + 24 * 10 + 24 * 5
    assert t.loc["NETA", "hourly_values"] == n_a
    assert t.loc["NETA", "flag_ok_pct"] == pytest.approx(round(100 * (n_a - 60) / n_a, 1))
    assert t.loc["NETA", "first_day"] == "2017-02-01" and t.loc["NETB", "last_day"] == "2018-01-10"
    assert s.period == ("2017-02-01", "2018-01-10")
    assert s.variables == {"sm": 4, "ts": 1}
    assert len(s.problems) == 1 and "Bad" in s.problems[0]
    assert summarize(download, depth=(0.0, 0.3)).table["kept"].sum() == 4


def test_cli_reads_folder_and_zip_alike(download, tmp_path):
    zipped = Path(shutil.make_archive(str(tmp_path / "dl"), "zip", download))
    outs = []
    for source in (download, zipped):
        res = run_cli("ismn", "check", str(source))
        assert res.returncode == 0, res.stderr
        outs.append(res.stdout)
        assert "3 stations, 4 soil-moisture sensors (3 in the depth range) from 2017-02-01 to 2018-01-10" in res.stdout
        assert "1 file(s) not read" in res.stdout and "sm (4), ts (1)" in res.stdout
    assert outs[0].splitlines()[:4] == outs[1].splitlines()[:4]


def test_no_soil_moisture_is_a_one_line_error(tmp_path):
    root = tmp_path / "empty"
    write_header_values(_sensor("NETB", "S9", 0.05, variable="ts"), root)
    res = run_cli("ismn", "check", str(root))
    assert res.returncode == 2 and str(root) in res.stderr and "ts" in res.stderr
    assert "no readable soil-moisture" in res.stderr
    assert res.stderr.strip().count("\n") == 0


@pytest.mark.realdata
@pytest.mark.skipif(not DATA.is_dir(), reason=f"needs the shared data folder {DATA}")
def test_real_hawaii_download():
    s = summarize(DATA, depth=(0.0, 0.2))
    t = s.table.set_index("network")
    assert t.loc["SCAN", ["stations", "sensors"]].tolist() == [8, 9]
    assert t.loc["COSMOS", ["stations", "sensors", "kept"]].tolist() == [1, 1, 1]
    assert s.period == ("2017-01-01", "2018-12-31")
    assert summarize(DATA).table.set_index("network").loc["COSMOS", "kept"] == 0  # 0-0.17 m is not in 0-0.1 m
