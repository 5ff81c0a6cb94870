"""EASE-Grid 2.0 global 36 km (EPSG:6933), the grid of SMAP L3 SPL3SMP: 964 columns x 406 rows.

Row 0 is the northernmost row and column 0 the westernmost, as in the SMAP HDF5 arrays. Cell centres:
``x = X_MIN + (col + 0.5) * CELL``, ``y = Y_MAX - (row + 0.5) * CELL`` (metres). Geographic coordinates
come from pyproj. The projection is equal-area, so every cell has the same area ``CELL**2``.
This module imports nothing else from the package.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import pyproj
from pyproj import Transformer

EPSG = 6933
NROWS = 406
NCOLS = 964
CELL = 36032.220840584  # m
X_MIN = -17367530.44516  # west edge of column 0 (m)
Y_MAX = 7314540.83  # north edge of row 0 (m)
#: Latitude limit of the grid (the north edge of row 0 / south edge of the last row).
MAX_LAT = 85.0445664


@cache
def _to_geo() -> Transformer:
    return Transformer.from_crs(EPSG, 4326, always_xy=True)


@cache
def _to_ease() -> Transformer:
    return Transformer.from_crs(4326, EPSG, always_xy=True)


def rowcol_to_xy(row, col) -> tuple[np.ndarray, np.ndarray]:
    """Projected cell-centre coordinates (m) of ``row``/``col`` (scalars or arrays)."""
    row = np.asarray(row, dtype=np.float64)
    col = np.asarray(col, dtype=np.float64)
    return X_MIN + (col + 0.5) * CELL, Y_MAX - (row + 0.5) * CELL


def xy_to_rowcol(x, y) -> tuple[np.ndarray, np.ndarray]:
    """Row/col (int64) of the cell containing projected point(s) ``x``/``y``; -1 where outside."""
    col = np.floor((np.asarray(x, dtype=np.float64) - X_MIN) / CELL).astype(np.int64)
    row = np.floor((Y_MAX - np.asarray(y, dtype=np.float64)) / CELL).astype(np.int64)
    outside = (row < 0) | (row >= NROWS) | (col < 0) | (col >= NCOLS)
    return np.where(outside, -1, row), np.where(outside, -1, col)


def xy_to_lonlat(x, y) -> tuple[np.ndarray, np.ndarray]:
    lon, lat = _to_geo().transform(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    return np.asarray(lon), np.asarray(lat)


def lonlat_to_xy(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    x, y = _to_ease().transform(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
    return np.asarray(x), np.asarray(y)


def rowcol_to_lonlat(row, col) -> tuple[np.ndarray, np.ndarray]:
    """Geographic cell-centre coordinates (degrees) of ``row``/``col``."""
    return xy_to_lonlat(*rowcol_to_xy(row, col))


def lonlat_to_rowcol(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Row/col of the cell containing each point.

    Raises ``ValueError`` for points outside the grid's latitude range (|lat| > 85.04 deg) or with
    longitudes outside [-180, 180]; use :func:`lonlat_to_rowcol_or_minus1` to get -1 instead.
    """
    row, col = lonlat_to_rowcol_or_minus1(lon, lat)
    bad = np.atleast_1d(row) < 0
    if bad.any():
        lon_a, lat_a = np.atleast_1d(lon), np.atleast_1d(lat)
        i = int(np.argmax(bad))
        raise ValueError(
            f"point lon={float(np.broadcast_to(lon_a, bad.shape)[i]):.4f}, "
            f"lat={float(np.broadcast_to(lat_a, bad.shape)[i]):.4f} is outside EASE-Grid 2.0 M36 "
            f"(|lat| <= {MAX_LAT:.2f}, |lon| <= 180)"
        )
    return row, col


def lonlat_to_rowcol_or_minus1(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Like :func:`lonlat_to_rowcol` but returns -1 for points outside the grid."""
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    ok = (np.abs(lat) <= MAX_LAT) & (np.abs(lon) <= 180.0) & np.isfinite(lat) & np.isfinite(lon)
    x, y = lonlat_to_xy(np.where(ok, lon, 0.0), np.where(ok, lat, 0.0))
    # points on the grid's outer edges (lon = +-180, lat = +-85.04) belong to its edge cells: the
    # projection's rounding can put them a hair outside
    col = np.clip(np.floor((x - X_MIN) / CELL).astype(np.int64), 0, NCOLS - 1)
    row = np.clip(np.floor((Y_MAX - y) / CELL).astype(np.int64), 0, NROWS - 1)
    return np.where(ok, row, -1), np.where(ok, col, -1)


def cell_area_m2() -> float:
    """Area of every cell (m^2): the projection is equal-area."""
    return CELL * CELL


@dataclass(frozen=True)
class Window:
    """A rectangular sub-grid, half-open global row/col ranges ``[row0, row1) x [col0, col1)``."""

    row0: int = 0
    row1: int = NROWS
    col0: int = 0
    col1: int = NCOLS

    def __post_init__(self) -> None:
        if not (0 <= self.row0 < self.row1 <= NROWS and 0 <= self.col0 < self.col1 <= NCOLS):
            raise ValueError(f"window {self} is empty or outside the {NROWS}x{NCOLS} grid")

    @property
    def shape(self) -> tuple[int, int]:
        return self.row1 - self.row0, self.col1 - self.col0

    @property
    def rows(self) -> np.ndarray:
        return np.arange(self.row0, self.row1)

    @property
    def cols(self) -> np.ndarray:
        return np.arange(self.col0, self.col1)

    @classmethod
    def from_bbox(cls, lon_min: float, lat_min: float, lon_max: float, lat_max: float) -> Window:
        """Smallest window containing the lon/lat box (the grid is cylindrical: corners suffice)."""
        lons = np.array([lon_min, lon_max, lon_min, lon_max])
        lats = np.array([lat_min, lat_min, lat_max, lat_max])
        row, col = lonlat_to_rowcol(lons, lats)
        return cls(int(row.min()), int(row.max()) + 1, int(col.min()), int(col.max()) + 1)

    @classmethod
    def from_rowcol(cls, rows, cols) -> Window:
        """The window whose global rows and columns are ``rows`` and ``cols`` (a case's row/col coords)."""
        rows, cols = np.asarray(rows), np.asarray(cols)
        return cls(int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1)

    def contains(self, row, col) -> np.ndarray:
        row, col = np.asarray(row), np.asarray(col)
        return (row >= self.row0) & (row < self.row1) & (col >= self.col0) & (col < self.col1)

    def lonlat(self) -> tuple[np.ndarray, np.ndarray]:
        """2-D (rows, cols) arrays of cell-centre longitude and latitude."""
        rr, cc = np.meshgrid(self.rows, self.cols, indexing="ij")
        return rowcol_to_lonlat(rr, cc)

    def coords(self) -> dict:
        """xarray coordinates for dims ``(y, x)``: projected y/x, global row/col, 2-D lat/lon."""
        x, _ = rowcol_to_xy(0, self.cols)
        _, y = rowcol_to_xy(self.rows, 0)
        lon, lat = self.lonlat()
        one = {"units": "1"}
        return {
            "y": ("y", y, {"standard_name": "projection_y_coordinate", "units": "m", "axis": "Y"}),
            "x": ("x", x, {"standard_name": "projection_x_coordinate", "units": "m", "axis": "X"}),
            "row": ("y", self.rows.astype(np.int32), {"long_name": "EASE-Grid 2.0 M36 global row (0 = north)", **one}),
            "col": ("x", self.cols.astype(np.int32), {"long_name": "EASE-Grid 2.0 M36 global column", **one}),
            "lat": (("y", "x"), lat, {"standard_name": "latitude", "units": "degrees_north"}),
            "lon": (("y", "x"), lon, {"standard_name": "longitude", "units": "degrees_east"}),
        }


def grid_mapping_attrs() -> dict:
    """CF grid-mapping attributes of EPSG:6933 (for a scalar ``crs`` variable)."""
    return {
        "long_name": "EASE-Grid 2.0 global projection (EPSG:6933)",
        "grid_mapping_name": "lambert_cylindrical_equal_area",
        "standard_parallel": 30.0,
        "longitude_of_central_meridian": 0.0,
        "false_easting": 0.0,
        "false_northing": 0.0,
        "semi_major_axis": 6378137.0,
        "inverse_flattening": 298.257223563,
        "epsg_code": "EPSG:6933",
        "crs_wkt": pyproj.CRS.from_epsg(6933).to_wkt(),
    }
