"""Regular lat/lon grids (GLDAS 0.25 deg) and EASE-Grid 2.0 grids (36 km, 9 km) -> EASE-Grid 2.0 M36 by
area-weighted bucket averaging.

Every source cell whose centre falls inside a target cell contributes with weight ``cos(lat)`` (its
area on the sphere, up to a constant). The weights form a sparse matrix built once per source grid and
target window and reused for every field: ``target = (W @ v) / (W @ valid)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..grid import Window, lonlat_to_rowcol_or_minus1, xy_to_rowcol


@dataclass
class BucketRegridder:
    window: Window
    weights: sp.csr_matrix  # (n_target, n_source)
    src_shape: tuple[int, int]

    @classmethod
    def from_latlon(cls, lat: np.ndarray, lon: np.ndarray, window: Window | None = None) -> BucketRegridder:
        """Build for a source grid with 1-D cell-centre ``lat`` and ``lon`` (degrees)."""
        lat = np.asarray(lat, dtype=np.float64)
        lon = np.asarray(lon, dtype=np.float64)
        lon2, lat2 = np.meshgrid(lon, lat)
        row, col = lonlat_to_rowcol_or_minus1(lon2.ravel(), lat2.ravel())
        return cls._build(row, col, np.cos(np.deg2rad(lat2.ravel())), window or Window(), (lat.size, lon.size))

    @classmethod
    def from_xy(cls, y: np.ndarray, x: np.ndarray, window: Window | None = None) -> BucketRegridder:
        """Build for a source grid on EASE-Grid 2.0 itself (EPSG:6933) with 1-D cell-centre ``y`` and
        ``x`` (m), e.g. the 36 km grid (one source cell per target) or the 9 km grid (4 x 4 per target):
        an equal-area grid, so every source cell weighs the same."""
        y = np.asarray(y, dtype=np.float64)
        x = np.asarray(x, dtype=np.float64)
        x2, y2 = np.meshgrid(x, y)
        row, col = xy_to_rowcol(x2.ravel(), y2.ravel())
        return cls._build(row, col, np.ones(row.size), window or Window(), (y.size, x.size))

    @classmethod
    def _build(
        cls, row: np.ndarray, col: np.ndarray, weight: np.ndarray, window: Window, shape: tuple[int, int]
    ) -> BucketRegridder:
        """The sparse weights of source cells (flat, their target ``row``/``col``, -1 outside) in ``window``."""
        inside = (row >= 0) & window.contains(row, col)
        ny, nx = window.shape
        tgt = (row[inside] - window.row0) * nx + (col[inside] - window.col0)
        src = np.nonzero(inside)[0]
        weights = sp.csr_matrix((weight[inside], (tgt, src)), shape=(ny * nx, shape[0] * shape[1]))
        return cls(window, weights, shape)

    def __call__(self, field: np.ndarray) -> np.ndarray:
        """Regrid one 2-D field (or a stack ``(n, nlat, nlon)``); NaN source cells are ignored."""
        field = np.asarray(field)
        stack = field.reshape(-1, self.src_shape[0] * self.src_shape[1]).T  # (n_source, n)
        valid = np.isfinite(stack)
        num = self.weights @ np.where(valid, stack, 0.0)
        den = self.weights @ valid.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(den > 0, num / den, np.nan)
        ny, nx = self.window.shape
        return out.T.reshape(field.shape[:-2] + (ny, nx))

    def coverage(self) -> np.ndarray:
        """Number of source cells per target cell (0 where the target gets no source cell)."""
        ny, nx = self.window.shape
        return np.asarray((self.weights > 0).sum(axis=1)).reshape(ny, nx)
