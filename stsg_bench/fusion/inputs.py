"""DrcGAN inputs: per-pixel reference composites stacked as channels, with per-variable normalisation.

Channels (``C = 14`` two-sided with same-day context, 12 without it; 10 / 8 one-sided), all on the
field padded to a multiple of 4 (ocean pad)::

    0  Noah(t)                      normalised with Noah's land mean/std
    1  SMAP_prev   2 Noah_prev       normalised; 0 where no reference
    3  age_prev / 30 days (1 where none)      4 validity of the previous reference
    5-8  the same for the next usable SMAP day (two-sided only)
    SMAP(t)  its validity           same-day context (``same_day``): the day's own usable SMAP, 0 in gaps
    offset  its validity            per-cell offset (``climatology``): mean SMAP - Noah of the cell's
                                    usable days, / sd_smap; where it has fewer than ``MIN_OFFSET_DAYS``,
                                    the Gaussian-weighted mean of its neighbours' (validity 0)
    -3 land mask   -2 sin(day of year)   -1 cos(day of year)

**Same-day context.** Inside a gap on day t the usable SMAP of the same day around it (the swath next
to the gap, the cells beside a flagged patch) is the closest observation in time: it carries the
day's rain events, which no reference from another day can. Training hides simulated holes from this
channel and supervises the hidden pixels (:mod:`.train`), so the generator learns to fill a hole from
its surroundings; at inference the channel holds every usable SMAP value of the day. Measured no
better against the truth on the twins (its neighbours mostly predict the SMAP *error* of the hidden
cell, correlated in space), so ``same_day`` is off by default (README, "What each term buys").

**Per-cell offset.** Inside a long gap (a frozen season, > 60 days from any observation) a cell has no
reference, and its SMAP - Noah difference — the two products' static bias, 0.02-0.05 m3 m-3 and
varying smoothly in space — is what the generator would otherwise have to guess from the neighbours.
The mean difference over the cell's usable days (the first moment of CDF matching, as ESA CCI rescales
its products) carries it across the gap; a cell never observed (dense vegetation: nearly all of the
twins' > 60-day gaps) gets its neighbours' mean, weighted by a Gaussian of ``OFFSET_SIGMA`` cells.
It is computed from the usable SMAP the builder is given: the training period's (per view) when
training, the whole case's when predicting (no truth, only the SMAP that also feeds the references).
Near the edge of a window the neighbours outside it are missing, so with ``climatology`` a cell's
inputs (and tiled inference's extent independence) hold only a few ``OFFSET_SIGMA`` from the edge.

References older than ``max_age`` days (default 60) count as missing: this bounds how far back (and
ahead) a day's inputs reach, so streaming inference over any period in chunks with a ``max_age``-day
context is exact. Normalisation statistics are fitted on the training period only and stored in the
checkpoint.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import xarray as xr
from scipy.ndimage import gaussian_filter

from ..case import valid_smap
from ..composites import next_composite, previous_composite
from ..errors import MethodError

AGE_SCALE = 30.0
MIN_OFFSET_DAYS = 10  # usable days a cell needs for its own offset
OFFSET_SIGMA = 4.0  # cells: the neighbourhood that lends a never-observed cell its offset


@dataclass
class Normalizer:
    smap_mean: float
    smap_std: float
    noah_mean: float
    noah_std: float

    @classmethod
    def fit(cls, train: xr.Dataset) -> Normalizer:
        land = train["land"].values
        v = valid_smap(train).values
        s = train["smap"].values[v]
        n = train["noah"].values[:, land]
        if s.size < 10:
            raise MethodError(
                f"drcgan: {s.size} usable SMAP value(s) in the training period, fewer than the 10 it needs"
            )
        return cls(float(s.mean()), float(max(s.std(), 1e-3)), float(np.nanmean(n)), float(max(np.nanstd(n), 1e-3)))

    def to_dict(self) -> dict:
        return asdict(self)


def n_channels(two_sided: bool, same_day: bool, offset: bool = False) -> int:
    """Channels of the generator's input stack (see the module docstring)."""
    return 1 + 4 * (2 if two_sided else 1) + (2 if same_day else 0) + (2 if offset else 0) + 3


def cell_offset(smap: np.ndarray, noah: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-cell mean of SMAP - Noah over the usable days (Y, X) (m3 m-3, 0 where too few) and where the
    cell has at least ``MIN_OFFSET_DAYS`` of them."""
    diff = np.where(valid, np.nan_to_num(smap) - np.nan_to_num(noah), 0.0).sum(axis=0, dtype=np.float64)
    return _offset(diff, valid.sum(axis=0))


def case_offset(case: xr.Dataset, chunk_days: int = 92) -> tuple[np.ndarray, np.ndarray]:
    """:func:`cell_offset` of a whole case, read ``chunk_days`` at a time (lazy cases stay lazy)."""
    Y, X = case["land"].shape
    diff, n = np.zeros((Y, X)), np.zeros((Y, X), dtype=np.int64)
    for k0 in range(0, case.sizes["time"], chunk_days):
        sub = case.isel(time=slice(k0, k0 + chunk_days))
        v = valid_smap(sub).values
        d = np.nan_to_num(sub["smap"].values) - np.nan_to_num(sub["noah"].values)
        diff += np.where(v, d, 0.0).sum(axis=0, dtype=np.float64)
        n += v.sum(axis=0)
    return _offset(diff, n)


def _offset(diff: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ok = n >= MIN_OFFSET_DAYS
    return np.where(ok, diff / np.maximum(n, 1), 0.0).astype(np.float32), ok


def offset_channels(offset: tuple[np.ndarray, np.ndarray], smap_std: float) -> tuple[np.ndarray, np.ndarray]:
    """The two offset channels (Y, X) from :func:`cell_offset`'s pair: the cell's own offset where it
    has one, else its neighbours' Gaussian-weighted mean (0 with no neighbour in reach), / ``smap_std``;
    and 1 where the offset is the cell's own."""
    off, ok = offset
    weight = gaussian_filter(ok.astype(np.float64), OFFSET_SIGMA, mode="constant")
    spread = gaussian_filter(np.where(ok, off, 0.0).astype(np.float64), OFFSET_SIGMA, mode="constant")
    spread = np.where(weight > 1e-3, spread / np.maximum(weight, 1e-3), 0.0)
    value = np.where(ok, off, spread) / smap_std
    return value.astype(np.float32), ok.astype(np.float32)


def ocean_fill(x: torch.Tensor, n_refs: int) -> torch.Tensor:
    """(B, C) channel values of cells outside the field for a channel stack ``x`` (B, C, H, W) with
    ``n_refs`` reference composites: ocean (0), no reference (age 1, validity 0), no same-day SMAP (0),
    no offset (0), and the day's own sin/cos of day of year."""
    B, C = x.shape[:2]
    fill = torch.zeros(B, C, dtype=x.dtype, device=x.device)
    fill[:, 3 : 3 + 4 * n_refs : 4] = 1.0  # the age channel of each reference
    fill[:, -2:] = x[:, -2:, 0, 0]
    return fill


def grid_origin(case: xr.Dataset) -> tuple[int, int]:
    """Absolute EASE2 (row, col) of the case's first cell (0, 0 for a case without grid indices)."""
    if "row" in case.coords and "col" in case.coords:
        return int(case["row"].values[0]), int(case["col"].values[0])
    return 0, 0


def pad4(n: int) -> int:
    return -(-n // 4) * 4


class InputBuilder:
    """Holds the (padded) arrays of a case and cuts channel stacks for any days and window."""

    def __init__(
        self,
        case: xr.Dataset,
        norm: Normalizer,
        two_sided: bool = True,
        valid: np.ndarray | None = None,
        max_age: int = 60,
        same_day: bool = False,
        offset: bool | tuple[np.ndarray, np.ndarray] = False,
    ):
        """``offset``: True adds the per-cell offset channels computed from ``valid``; a (offset, ok)
        pair from :func:`cell_offset` uses that one (inference: the whole case's)."""
        T, Y, X = case["smap"].shape
        self.shape = (Y, X)
        self.padded = (pad4(Y), pad4(X))
        py, px = self.padded[0] - Y, self.padded[1] - X
        pad3 = lambda a, v: np.pad(a, ((0, 0), (0, py), (0, px)), constant_values=v)  # noqa: E731
        self.norm = norm
        self.two_sided = two_sided
        v_case = valid_smap(case).values
        valid = v_case if valid is None else valid
        smap, noah = case["smap"].values.astype(np.float32), case["noah"].values.astype(np.float32)
        self.land = np.pad(case["land"].values, ((0, py), (0, px)), constant_values=False)
        self.noah = pad3(np.nan_to_num(noah), 0.0)
        self.target = pad3(np.where(v_case, smap, 0.0), 0.0)
        self.target_valid = pad3(v_case, False)
        comps = [previous_composite(smap, noah, valid)]
        if two_sided:
            comps.append(next_composite(smap, noah, valid))
        self.refs = []
        for c in comps:
            ok = np.isfinite(c.smap) & (c.age <= max_age)
            self.refs.append(
                (
                    pad3(np.where(ok, (c.smap - norm.smap_mean) / norm.smap_std, 0.0).astype(np.float32), 0.0),
                    pad3(np.where(ok, (c.noah - norm.noah_mean) / norm.noah_std, 0.0).astype(np.float32), 0.0),
                    pad3(np.where(ok, c.age / AGE_SCALE, 1.0).astype(np.float32), 1.0),
                    pad3(ok.astype(np.float32), 0.0),
                )
            )
        # the day's own usable SMAP (normalised) and its validity: the same-day context channels
        self.obs = (
            pad3(np.where(valid, (smap - norm.smap_mean) / norm.smap_std, 0.0).astype(np.float32), 0.0)
            if same_day
            else None
        )
        self.obs_valid = pad3(valid, False) if same_day else None
        self.offset = None
        if offset is not False:
            pair = cell_offset(smap, noah, valid) if offset is True else offset
            pad2 = lambda a: np.pad(a, ((0, py), (0, px)), constant_values=0)  # noqa: E731
            value, own = offset_channels(pair, norm.smap_std)
            self.offset = (pad2(value), pad2(own))
        doy = case["time"].dt.dayofyear.values
        self.sin = np.sin(2 * np.pi * doy / 365.25).astype(np.float32)
        self.cos = np.cos(2 * np.pi * doy / 365.25).astype(np.float32)

    @property
    def n_channels(self) -> int:
        return n_channels(len(self.refs) == 2, self.obs is not None, self.offset is not None)

    def channels(
        self,
        t: np.ndarray,
        r0: int = 0,
        r1: int | None = None,
        c0: int = 0,
        c1: int | None = None,
        hide: np.ndarray | None = None,
    ) -> np.ndarray:
        """(B, C, h, w) float32 input stack for days ``t`` over rows r0:r1, cols c0:c1 (padded coords);
        ``hide`` (B, h, w): cells whose same-day SMAP is hidden (simulated holes while training)."""
        r1 = self.padded[0] if r1 is None else r1
        c1 = self.padded[1] if c1 is None else c1
        ys, xs = slice(r0, r1), slice(c0, c1)
        B, h, w = len(t), r1 - r0, c1 - c0
        out = np.empty((B, self.n_channels, h, w), dtype=np.float32)
        land = self.land[ys, xs]
        out[:, 0] = np.where(land, (self.noah[t, ys, xs] - self.norm.noah_mean) / self.norm.noah_std, 0.0)
        k = 1
        for ref in self.refs:
            for arr in ref:
                out[:, k] = arr[t, ys, xs]
                k += 1
        if self.obs is not None and self.obs_valid is not None:
            seen = self.obs_valid[t, ys, xs] if hide is None else self.obs_valid[t, ys, xs] & ~hide
            out[:, k] = np.where(seen, self.obs[t, ys, xs], 0.0)
            out[:, k + 1] = seen
            k += 2
        if self.offset is not None:
            out[:, k], out[:, k + 1] = self.offset[0][ys, xs], self.offset[1][ys, xs]
            k += 2
        out[:, k] = land
        out[:, k + 1] = self.sin[t, None, None]
        out[:, k + 2] = self.cos[t, None, None]
        return out
