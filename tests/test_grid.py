import numpy as np
import pytest
from pyproj import Transformer

from stsg_bench import grid


def test_corner_cell_centres_match_constants():
    x, y = grid.rowcol_to_xy(0, 0)
    assert x == pytest.approx(-17367530.44516 + 0.5 * 36032.220840584)
    assert y == pytest.approx(7314540.83 - 0.5 * 36032.220840584)
    x, y = grid.rowcol_to_xy(405, 963)
    # the grid is symmetric about the origin
    assert x == pytest.approx(-grid.rowcol_to_xy(0, 0)[0], abs=0.01)
    assert y == pytest.approx(-grid.rowcol_to_xy(0, 0)[1], abs=0.01)


def test_known_lonlat_of_cells():
    lon, lat = grid.rowcol_to_lonlat(0, 0)
    assert lon == pytest.approx(-179.8133, abs=0.01)
    assert lat == pytest.approx(83.63198, abs=1e-4)
    lon, lat = grid.rowcol_to_lonlat(405, 963)
    assert lon == pytest.approx(179.8133, abs=0.01)
    assert lat == pytest.approx(-83.63198, abs=1e-4)


def test_against_pyproj_directly():
    rng = np.random.default_rng(1)
    rows, cols = rng.integers(0, 406, 200), rng.integers(0, 964, 200)
    t = Transformer.from_crs("EPSG:6933", "EPSG:4326", always_xy=True)
    x, y = grid.rowcol_to_xy(rows, cols)
    lon_ref, lat_ref = t.transform(x, y)
    lon, lat = grid.rowcol_to_lonlat(rows, cols)
    np.testing.assert_allclose(lon, lon_ref)
    np.testing.assert_allclose(lat, lat_ref)
    r2, c2 = grid.lonlat_to_rowcol(lon, lat)
    np.testing.assert_array_equal(r2, rows)
    np.testing.assert_array_equal(c2, cols)


def test_points_inside_cells_map_to_that_cell():
    rng = np.random.default_rng(2)
    rows, cols = rng.integers(0, 406, 500), rng.integers(0, 964, 500)
    x, y = grid.rowcol_to_xy(rows, cols)
    x = x + (rng.random(500) - 0.5) * 0.99 * grid.CELL
    y = y + (rng.random(500) - 0.5) * 0.99 * grid.CELL
    r, c = grid.xy_to_rowcol(x, y)
    np.testing.assert_array_equal(r, rows)
    np.testing.assert_array_equal(c, cols)


def test_outside_latitude_range_raises():
    with pytest.raises(ValueError, match="outside EASE-Grid"):
        grid.lonlat_to_rowcol(10.0, 86.0)
    r, c = grid.lonlat_to_rowcol_or_minus1([10.0, 10.0], [86.0, 45.0])
    assert r[0] == -1 and c[0] == -1 and r[1] >= 0


def test_window_bbox_and_coords():
    w = grid.Window.from_bbox(-156.2, 18.8, -154.7, 20.4)  # Island of Hawai'i
    assert w.contains(133, 65)
    coords = w.coords()
    assert coords["lat"][1].shape == w.shape
    assert coords["row"][1][0] == w.row0
    with pytest.raises(ValueError):
        grid.Window(10, 5, 0, 10)


def test_cell_area():
    assert grid.cell_area_m2() == pytest.approx(36032.220840584**2)
