"""Dataset cards parsed at the edge, and readers as plug-ins."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from stsg_bench.cards import build_bundle, load_card
from stsg_bench.errors import InputError
from stsg_bench.grid import Window
from stsg_bench.io import READERS, SourceData, register_reader

GOOD = """name = "demo"
kind = "files"
period = ["2017-01-01", "2017-01-10"]
[grid]
window = { row0 = 100, row1 = 104, col0 = 500, col1 = 506 }
[observation]
reader = "test_constant_obs"
path = "obs"
value = 0.25
[model]
reader = "test_constant_model"
path = "model"
[ismn]
depth = [0.0, 0.2]
"""


@dataclass
class ObsOptions:
    value: float = 0.2


@dataclass
class ModelOptions:
    offset: float = 0.05


def _grid(window: Window, period) -> dict:
    times = pd.date_range(*period)
    return {"time": times, **window.coords()}


@register_reader("test_constant_obs", "observation", ObsOptions)
def _obs(path, window, period, opts: ObsOptions) -> SourceData:
    """a constant field (test reader registered from a test module)"""
    coords = _grid(window, period)
    shape = (len(coords["time"]),) + window.shape
    ds = xr.Dataset(
        {
            "smap": (("time", "y", "x"), np.full(shape, opts.value, np.float32)),
            "smap_quality": (("time", "y", "x"), np.ones(shape, bool)),
        },
        coords=coords,
        attrs={"smap_quality_rule": "recommended"},
    )
    return SourceData(ds, ["obs: constant"])


@register_reader("test_constant_model", "model", ModelOptions)
def _model(path, window, period, opts: ModelOptions) -> SourceData:
    """a constant model field"""
    coords = _grid(window, period)
    shape = (len(coords["time"]),) + window.shape
    return SourceData(
        xr.Dataset({"noah": (("time", "y", "x"), np.full(shape, 0.2 + opts.offset, np.float32))}, coords=coords)
    )


def _card(tmp_path, text: str):
    (tmp_path / "obs").touch()
    (tmp_path / "model").touch()
    path = tmp_path / "card.toml"
    path.write_text(text)
    return path


def test_a_reader_registered_elsewhere_builds_a_case(tmp_path):
    assert READERS["test_constant_obs"].role == "observation"
    b = build_bundle(_card(tmp_path, GOOD), data_root=tmp_path)
    assert b.case.sizes["time"] == 10 and float(b.case["smap"].max()) == pytest.approx(0.25)
    assert float(b.case["noah"].max()) == pytest.approx(0.25)
    assert "obs: constant" in b.notes and b.card.validation.depth == (0.0, 0.2)
    assert b.case.attrs["ismn_depth_range"] == "0.0 0.2"


@pytest.mark.parametrize(
    "change, key, message",
    [
        (("value = 0.25", "vaule = 0.25"), "observation.vaule", "did you mean 'value'"),
        (("value = 0.25", 'value = "high"'), "observation.value", "expected a number"),
        (('path = "obs"', 'path = "obs"\nquality_rule = "any"'), "observation.quality_rule", "unknown key"),
        (
            ('period = ["2017-01-01", "2017-01-10"]', 'period = ["2017-01-01", "2017-13-10"]'),
            "period",
            "cannot parse the dates",
        ),
        (
            ('period = ["2017-01-01", "2017-01-10"]', 'period = ["2017-02-01", "2017-01-10"]'),
            "period",
            "ends before it starts",
        ),
        (('period = ["2017-01-01", "2017-01-10"]', 'period = "2017"'), "period", "a period is"),
        (('reader = "test_constant_model"', 'reader = "test_constant_obs"'), "model.reader", "unknown model reader"),
        (
            ('kind = "files"', 'kind = "files"\ntrain_perod = ["2017-01-01", "2017-01-05"]'),
            "train_perod",
            "did you mean 'train_period'",
        ),
        (("depth = [0.0, 0.2]", "depth = [0.3, 0.2]"), "ismn", "depth range"),
        (("depth = [0.0, 0.2]", 'flags = "G"'), "ismn", "flags: expected a list"),
        (("row1 = 104", 'row1 = "104"'), "grid.window", "window ="),
    ],
)
def test_card_errors_name_the_card_and_key(tmp_path, change, key, message):
    path = _card(tmp_path, GOOD.replace(*change))
    with pytest.raises(InputError) as err:
        load_card(path)
    text = str(err.value)
    assert str(path) in text and f"[{key}]" in text and message in text
    assert "\n" not in text


def test_historical_section_names_still_read(tmp_path):
    text = GOOD.replace("[observation]", "[smap]").replace("[model]", "[gldas]")
    card = load_card(_card(tmp_path, text))
    assert card.observation is not None and card.observation.section == "smap" and card.model is not None
    both = text + '[observation]\nreader = "test_constant_obs"\npath = "obs"\n'
    with pytest.raises(InputError, match="not both"):
        load_card(_card(tmp_path, both))


def test_shipped_cards_parse():
    for name in ("hawaii", "twin-tiny", "twin-gate", "twin-small", "twin-realistic"):
        card = load_card(name)
        assert card.name == name
    hawaii = load_card("hawaii")
    assert hawaii.validation.depth == (0.0, 0.2) and hawaii.train_period == ("2017-01-01", "2017-12-31")


@pytest.mark.parametrize(
    "text, key, message",
    [
        ('dataset = "twin-tiny"\nmethod = ["noah_raw"]', "method", "did you mean 'methods'"),
        ('dataset = "twin-tiny"\nmin_obs = "many"', "min_obs", "expected a whole number"),
        ('dataset = "twin-tiny"\nsimgap_fraction = 1.5', "simgap_fraction", "fraction in (0, 1]"),
        ('dataset = "twin-tiny"\ntest_period = ["2018-01-01", "2018-02-30"]', "test_period", "cannot parse"),
        ('dataset = "twin-tiny"\ndepth = [0.2, 0.1]', "depth", "[from, to]"),
    ],
)
def test_run_config_errors_name_the_file_and_key(tmp_path, text, key, message):
    from stsg_bench.workflows.chain import load_run_config

    path = tmp_path / "run.toml"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        load_run_config(path)
    assert str(path) in str(err.value) and f"[{key}]" in str(err.value) and message in str(err.value)


def test_run_config_overrides_the_card_validation(tmp_path):
    from stsg_bench.workflows.chain import load_run_config

    path = tmp_path / "run.toml"
    path.write_text('dataset = "hawaii"\nmin_obs = 5\ntest_period = ["2018-01-01", "2018-06-30"]\n')
    cfg = load_run_config(path)
    v = cfg.validation(load_card("hawaii"))
    assert v.min_obs == 5 and v.depth == (0.0, 0.2) and cfg.test_period == ("2018-01-01", "2018-06-30")


# -- your region: cards by bounding box, and `card new` --------------------------------------------------
HAWAII_BBOX = [-160.2, 18.9, -154.8, 22.3]  # the cells of datasets/hawaii.toml's window


def _card_with_grid(tmp_path, grid: str):
    from stsg_bench.cards import parse_card
    from stsg_bench.files import read_toml

    src = load_card("hawaii").path.read_text()
    text = src.replace("window = { row0 = 125, row1 = 138, col0 = 53, col1 = 68 }", grid)
    assert text != src
    path = tmp_path / "card.toml"
    path.write_text(text)
    return parse_card(read_toml(path), path)


def test_a_bounding_box_gives_the_window_of_cells_holding_it(tmp_path):
    card = _card_with_grid(tmp_path, f"bbox = {HAWAII_BBOX}")
    assert card.window == load_card("hawaii").window == Window(125, 138, 53, 68)


@pytest.mark.parametrize(
    "grid, words",
    [
        (f"bbox = {HAWAII_BBOX}\nwindow = {{ row0 = 1, row1 = 2, col0 = 1, col1 = 2 }}", "not both"),
        ("bbox = [1, 2, 3]", "[W, S, E, N]"),
        ('bbox = ["W", 2, 3, 4]', "[W, S, E, N]"),
        ("bbox = [10, 2, 3, 4]", "W < E"),
        ("bbox = [1, -89, 3, 4]", "EASE-Grid 2.0"),
    ],
)
def test_bad_bounding_boxes_are_one_line_errors(tmp_path, grid, words):
    with pytest.raises(InputError, match="grid") as err:
        _card_with_grid(tmp_path, grid)
    assert words in str(err.value) and "card.toml" in str(err.value)


@pytest.mark.slow  # writes a 2-day native archive and builds a case from it
def test_card_new_writes_a_card_that_builds_a_case(tmp_path):
    """`card new` over a native archive written in SPL3SMP and GLDAS layout: the card loads, its paths are
    relative to the data root, and `case` builds the box's cells from it."""
    from clirun import run_cli

    from stsg_bench.case import open_case
    from stsg_bench.grid import NCOLS, NROWS
    from stsg_bench.io.smap import write_spl3smp

    root = tmp_path / "data"
    (root / "smap").mkdir(parents=True)
    (root / "gldas").mkdir()
    rng = np.random.default_rng(0)
    days = pd.date_range("2017-01-01", periods=2)
    for day in days:
        am = rng.uniform(0.05, 0.45, (NROWS, NCOLS)).astype(np.float32)
        write_spl3smp(root / "smap" / f"SMAP_L3_SM_P_{day:%Y%m%d}_R19240_001.h5", f"{day:%Y-%m-%d}", am, am)
        for hour in range(0, 24, 3):
            lat, lon = np.arange(-59.875, 90, 0.25), np.arange(-179.875, 180, 0.25)
            values = np.full((1, lat.size, lon.size), 25.0, np.float32)  # kg m-2 in 0-10 cm: 0.25 m3 m-3
            ds = xr.Dataset(
                {"SoilMoi0_10cm_inst": (("time", "lat", "lon"), values, {"units": "kg m-2"})},
                coords={"time": [0.0], "lat": lat, "lon": lon},
            )
            ds.to_netcdf(root / "gldas" / f"GLDAS_NOAH025_3H.A{day:%Y%m%d}.{hour:02d}00.021.nc4",
                         encoding={"SoilMoi0_10cm_inst": {"zlib": True, "_FillValue": -9999.0}})  # fmt: skip
    bbox = ["10.5", "45.2", "12.8", "46.9"]
    r = run_cli("card", "new", "alps", "--bbox", *bbox, "--period", "2017-01-01", "2017-01-02",
                "--smap", root / "smap", "--gldas", root / "gldas", "--data-root", root,
                "--out", tmp_path / "alps.toml")  # fmt: skip
    assert r.returncode == 0, r.stderr
    card = load_card(tmp_path / "alps.toml")
    assert card.window == Window.from_bbox(*map(float, bbox))
    assert card.observation.path == "smap" and card.model.path == "gldas"
    r = run_cli("case", tmp_path / "alps.toml", "--data-root", root, "--out", tmp_path / "case.nc")
    assert r.returncode == 0, r.stderr
    case = open_case(tmp_path / "case.nc")
    assert (case.sizes["y"], case.sizes["x"]) == card.window.shape and case.sizes["time"] == 2
    # a second `card new` to the same file needs --overwrite; a bad box is refused before anything is written
    r = run_cli("card", "new", "alps", "--bbox", *bbox, "--period", "2017-01-01", "2017-01-02",
                "--smap", root / "smap", "--gldas", root / "gldas", "--out", tmp_path / "alps.toml")  # fmt: skip
    assert r.returncode == 2 and "--overwrite" in r.stderr
    r = run_cli("card", "new", "bad", "--bbox", "13", "45", "12", "46", "--period", "2017-01-01", "2017-01-02",
                "--smap", root / "smap", "--gldas", root / "gldas", "--out", tmp_path / "bad.toml")  # fmt: skip
    assert r.returncode == 2 and "--bbox" in r.stderr and not (tmp_path / "bad.toml").exists()


def test_external_layer_depth_is_read_and_checked(tmp_path):
    """Through the card, as a user meets it: one number rule (a whole number is a depth too)."""
    base = 'kind = "twin"\npreset = "tiny"\n[[external]]\nname = "era"\npath = "e.nc"\nlayer_depth = '
    for good, depth in (("0.07", 0.07), ("1", 1.0)):
        (ok,) = load_card(_card(tmp_path, base + good + "\n")).external
        assert ok.layer_depth == depth
    for bad in ('"7 cm"', "-0.1", "true"):
        with pytest.raises(InputError, match=r"\[external\[0\]\.layer_depth\]"):
            load_card(_card(tmp_path, base + bad + "\n"))
