"""STARFM-like spatiotemporal fusion (Gao et al. 2006, adapted to SMAP + Noah), vectorised in torch.

For a pixel p on day t and a reference (SMAP, Noah) pair at each neighbour x_i (the per-pixel composite
of :mod:`stsg_bench.composites`, i.e. each neighbour's most recent usable SMAP day)::

    SMAP(p, t) = sum_i W_i [Noah(x_i, t) + SMAP_ref(x_i) - Noah_ref(x_i)] / sum_i W_i
    W_i = 1 / (S_i T_i D_i),  S_i = |SMAP_ref(x_i) - Noah_ref(x_i)| + eps,
    T_i = |Noah_ref(x_i) - Noah(x_i, t)| + eps,  D_i = 1 + d_i / A  (A = half window, d in cells)

over the *similar* neighbours, ``|SMAP_ref(x_i) - SMAP_ref(p)| <= 2 sigma / m`` (sigma: the standard
deviation of the reference field over land, m classes; all neighbours when p has no reference). Two-sided
mode also uses the next usable SMAP day and blends both predictions with weights ``1 / age`` (the
W-weighted mean age of each side's references). Where no neighbour has a reference, Noah(t) plus the
day's mean SMAP - Noah offset is used. ``eps`` (m3 m-3) keeps weights finite when S or T vanish.

The window sums use ``torch.nn.functional.unfold`` on row tiles, so the same code runs on CPU and CUDA
with bounded memory.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .. import threads
from ..case import valid_smap
from ..composites import next_composite, previous_composite
from ..configs import check_ranges
from ..errors import ConfigError
from .base import Method, MethodConfig, register

log = logging.getLogger(__name__)


@dataclass
class StarfmConfig(MethodConfig):
    window: int = 7  # odd, cells
    classes: int = 4  # m in the similarity threshold 2 sigma / m
    eps: float = 0.002  # m3 m-3 added to S and T
    two_sided: bool = True
    device: str = "cpu"
    tile_rows: int = 128
    max_age: int | None = None  # days; older SMAP references are ignored (needed for chunked runs)

    def __post_init__(self):
        if self.window < 1 or self.window % 2 == 0:
            raise ValueError(f"window must be a positive odd number of cells, got {self.window}")
        if self.max_age is not None and self.max_age < 1:
            raise ValueError(f"max_age must be at least 1 day, got {self.max_age}")
        check_ranges(self, minimum={"classes": 1, "eps": 0, "tile_rows": 1})


def _distance_factor(window: int, device, dtype=torch.float32) -> torch.Tensor:
    a = window // 2
    off = torch.arange(window, device=device, dtype=dtype) - a
    d = torch.sqrt(off[:, None] ** 2 + off[None, :] ** 2).reshape(-1, 1)
    return 1.0 + d / max(a, 1)


def _patches(x: torch.Tensor, window: int, r0: int, r1: int) -> torch.Tensor:
    """x: (C, Y + 2a, X + 2a) NaN-padded -> (C, window*window, r1 - r0, X) neighbourhoods of rows r0..r1."""
    C, _, Xp = x.shape
    a = window // 2
    tile = x[:, r0 : r1 + 2 * a, :]
    u = F.unfold(tile[None], window)  # (1, C*w*w, (r1-r0)*X)
    return u.view(C, window * window, r1 - r0, Xp - 2 * a)


def starfm_side(
    noah_t: torch.Tensor,
    ref_smap: torch.Tensor,
    ref_noah: torch.Tensor,
    ref_age: torch.Tensor,
    window: int = 7,
    classes: int = 4,
    eps: float = 0.002,
    tile_rows: int = 128,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One-sided STARFM prediction for one day. Inputs (Y, X), NaN where missing.

    Returns (prediction, mean reference age), both NaN where no neighbour has a reference."""
    Y, X = noah_t.shape
    a = window // 2
    ok = torch.isfinite(ref_smap) & torch.isfinite(ref_noah)
    sigma = ref_smap[ok].std(unbiased=False) if ok.sum() > 1 else torch.tensor(0.0, device=noah_t.device)
    thr = 2.0 * sigma / classes
    stack = torch.stack([noah_t, ref_smap, ref_noah, ref_age.clamp(max=1e6)])
    padded = F.pad(stack[None], (a, a, a, a), value=float("nan"))[0]
    D = _distance_factor(window, noah_t.device, noah_t.dtype)[:, :, None]
    pred = torch.empty_like(noah_t)
    age = torch.empty_like(noah_t)
    for r0 in range(0, Y, tile_rows):
        r1 = min(r0 + tile_rows, Y)
        nt, rs, rn, ag = _patches(padded, window, r0, r1)
        cand = nt + rs - rn
        valid = torch.isfinite(cand)
        centre = ref_smap[r0:r1][None]
        similar = (rs - centre).abs() <= thr
        similar = similar | ~torch.isfinite(centre)
        S = (rs - rn).abs() + eps
        T = (rn - nt).abs() + eps
        W = torch.where(valid & similar, 1.0 / (S * T * D), torch.zeros((), device=noah_t.device))
        wsum = W.sum(0)
        num = torch.where(valid, W * cand, torch.zeros((), device=noah_t.device)).sum(0)
        agesum = torch.where(valid, W * ag, torch.zeros((), device=noah_t.device)).sum(0)
        has = wsum > 0
        pred[r0:r1] = torch.where(has, num / torch.where(has, wsum, 1.0), float("nan"))
        age[r0:r1] = torch.where(has, agesum / torch.where(has, wsum, 1.0), float("nan"))
    return pred, age


def starfm_day(
    noah_t: torch.Tensor,
    prev: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    nxt: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None,
    window=7,
    classes=4,
    eps=0.002,
    tile_rows=128,
) -> torch.Tensor:
    """Two-sided (or one-sided when ``nxt`` is None) STARFM prediction for one day; every input (Y, X)."""
    p_pred, p_age = starfm_side(noah_t, *prev, window=window, classes=classes, eps=eps, tile_rows=tile_rows)
    if nxt is None:
        pred = p_pred
    else:
        n_pred, n_age = starfm_side(noah_t, *nxt, window=window, classes=classes, eps=eps, tile_rows=tile_rows)
        wp = torch.where(torch.isfinite(p_pred), 1.0 / p_age.clamp(min=1.0), 0.0)
        wn = torch.where(torch.isfinite(n_pred), 1.0 / n_age.clamp(min=1.0), 0.0)
        tot = wp + wn
        pred = torch.where(
            tot > 0,
            (wp * torch.nan_to_num(p_pred) + wn * torch.nan_to_num(n_pred)) / torch.where(tot > 0, tot, 1.0),
            float("nan"),
        )
    # fallback: Noah(t) + the day's mean reference offset
    rs, rn = prev[0], prev[1]
    ok = torch.isfinite(rs) & torch.isfinite(rn)
    offset = (rs - rn)[ok].mean() if ok.any() else torch.tensor(0.0, device=noah_t.device)
    return torch.where(torch.isfinite(pred), pred, noah_t + offset)


def starfm_pixel_reference(noah_t, ref_smap, ref_noah, window=7, classes=4, eps=0.002) -> np.ndarray:
    """A straightforward per-pixel numpy loop of the one-sided formula (the slow oracle for tests and the
    speed baseline of the benchmarks). Returns NaN where no neighbour has a reference."""
    Y, X = noah_t.shape
    a = window // 2
    ok = np.isfinite(ref_smap) & np.isfinite(ref_noah)
    sigma = ref_smap[ok].std() if ok.sum() > 1 else 0.0
    thr = 2.0 * sigma / classes
    out = np.full((Y, X), np.nan)
    for r in range(Y):
        for c in range(X):
            num = den = 0.0
            for dr in range(-a, a + 1):
                for dc in range(-a, a + 1):
                    i, j = r + dr, c + dc
                    if not (0 <= i < Y and 0 <= j < X):
                        continue
                    cand = noah_t[i, j] + ref_smap[i, j] - ref_noah[i, j]
                    if not np.isfinite(cand):
                        continue
                    if np.isfinite(ref_smap[r, c]) and abs(ref_smap[i, j] - ref_smap[r, c]) > thr:
                        continue
                    S = abs(ref_smap[i, j] - ref_noah[i, j]) + eps
                    T = abs(ref_noah[i, j] - noah_t[i, j]) + eps
                    D = 1.0 + math.hypot(dr, dc) / max(a, 1)
                    w = 1.0 / (S * T * D)
                    num += w * cand
                    den += w
            if den > 0:
                out[r, c] = num / den
    return out


@register
class Starfm(Method):
    name = "starfm"
    order = 60
    #: a finite reference age makes the halo finite, so archive-scale runs can stream STARFM in chunks
    stream_overrides = {"max_age": 60}
    Config = StarfmConfig
    description = "STARFM-like spatiotemporal fusion of Noah(t) with per-pixel SMAP/Noah reference pairs (torch)"

    @property
    def halo_days(self) -> int | None:
        return self.config.max_age

    def _predict(self, case, out):
        cfg = self.config
        if cfg.device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError("starfm: device 'cuda' requested but no CUDA GPU is available")
        dev = torch.device(cfg.device)
        v = valid_smap(case).values
        smap, noah = case["smap"].values, case["noah"].values
        index = case.indexes["time"].get_indexer(out.indexes["time"])
        prev = previous_composite(smap, noah, v, cfg.max_age, days=index)  # only the output days
        nxt = next_composite(smap, noah, v, cfg.max_age, days=index) if cfg.two_sided else None
        result = np.empty((len(index),) + smap.shape[1:], dtype=np.float32)
        t = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(dev)  # noqa: E731
        with torch.no_grad():
            for k, i in enumerate(index):
                threads.refresh()
                p = (t(prev.smap[k]), t(prev.noah[k]), t(prev.age[k]))
                n = (t(nxt.smap[k]), t(nxt.noah[k]), t(nxt.age[k])) if nxt is not None else None
                pred = starfm_day(t(noah[i]), p, n, cfg.window, cfg.classes, cfg.eps, cfg.tile_rows)
                result[k] = pred.cpu().numpy()
        return np.clip(result, 0.0, 1.0)
