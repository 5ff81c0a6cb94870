"""DCT-PLS gap filling (Garcia 2010, Comput. Stat. Data Anal. 54:1167; Wang et al. 2012 for soil
moisture; the method behind ESA CCI SM GAPFILLED).

Penalised least squares ``min ||sqrt(W)(y - z)||^2 + s ||D z||^2`` is diagonal in the type-II discrete
cosine basis: ``z = IDCT(Gamma * DCT(W (y - z) + z))`` with ``Gamma = 1 / (1 + s Lambda^2)`` and
``Lambda = sum_d (2 - 2 cos(pi k_d / n_d))`` over the axes (time, y, x). Gaps and ocean get weight 0 and
are filled by the iteration (with Garcia's over-relaxation). The smoothing ``s`` is chosen by generalised
cross-validation, ``GCV(s) = (RSS / n_obs) / (1 - Tr(H) / n)^2``, ``Tr(H) = sum Gamma``, or fixed.
Long periods are processed in overlapping time blocks (memory bounded by ``block_days``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy.fft import dctn, idctn
from scipy.optimize import minimize_scalar

from ..case import valid_smap
from ..configs import check_ranges
from .base import Method, MethodConfig, register

log = logging.getLogger(__name__)


def _lambda(shape: tuple[int, ...], axis_weights: tuple[float, ...]) -> np.ndarray:
    lam = np.zeros(shape)
    for d, (n, w) in enumerate(zip(shape, axis_weights)):
        k = np.arange(n)
        vec = w * (2.0 - 2.0 * np.cos(np.pi * k / n))
        lam = lam + vec.reshape([-1 if i == d else 1 for i in range(len(shape))])
    return lam


def _gcv(log_s: float, dct_y: np.ndarray, lam2: np.ndarray, y: np.ndarray, w: np.ndarray, n_obs: int) -> float:
    gamma = 1.0 / (1.0 + 10.0**log_s * lam2)
    z = idctn(gamma * dct_y, norm="ortho")
    rss = float(np.sum(w * (y - z) ** 2))
    tr = float(gamma.sum())
    return (rss / n_obs) / (1.0 - tr / y.size) ** 2


def dctpls_smooth(
    y: np.ndarray,
    w: np.ndarray,
    s: float | None = None,
    max_iter: int = 100,
    tol: float = 1e-4,
    axis_weights: tuple[float, ...] | None = None,
    s_bounds: tuple[float, float] = (-3.0, 4.0),
) -> tuple[np.ndarray, float]:
    """Fill/smooth an N-D array ``y`` where ``w`` (0..1) weights the observations (0 = gap).

    Returns (z, s). ``s=None`` chooses s by GCV (re-estimated during the first iterations)."""
    w = np.where(np.isfinite(y), w, 0.0).astype(np.float64)
    y = np.where(w > 0, y, 0.0).astype(np.float64)
    n_obs = int((w > 0).sum())
    if n_obs == 0:
        return np.full(y.shape, np.nan), np.nan
    axis_weights = axis_weights or (1.0,) * y.ndim
    lam2 = _lambda(y.shape, axis_weights) ** 2
    z = np.where(w > 0, y, y[w > 0].mean())  # initial guess
    relax = 1.75 if (w < 1).any() else 1.0
    choose = s is None
    log_s = np.log10(s) if s else 0.0
    for it in range(max_iter):
        dct_y = dctn(w * (y - z) + z, norm="ortho")
        if choose and it < 4:
            res = minimize_scalar(
                _gcv, bounds=s_bounds, method="bounded", args=(dct_y, lam2, y, w, n_obs), options={"xatol": 0.05}
            )
            log_s = float(res.x)
        gamma = 1.0 / (1.0 + 10.0**log_s * lam2)
        z_new = relax * idctn(gamma * dct_y, norm="ortho") + (1.0 - relax) * z
        change = float(np.linalg.norm(z_new - z)) / max(float(np.linalg.norm(z_new)), 1e-12)
        z = z_new
        if change < tol and it >= 4:
            break
    return z, 10.0**log_s


@dataclass
class DctPlsConfig(MethodConfig):
    s: float | None = None  # smoothing; None = GCV
    block_days: int = 64
    overlap_days: int = 16
    max_iter: int = 60
    time_weight: float = 1.0  # relative smoothness penalty along time vs space

    def __post_init__(self):
        check_ranges(self, minimum={"block_days": 2, "overlap_days": 0, "max_iter": 1}, positive=("s", "time_weight"))


@register
class DctPls(Method):
    name = "dctpls"
    order = 70
    halo_days = None  # smooths whole series: cannot be split into time chunks
    Config = DctPlsConfig
    description = "Garcia's DCT penalised least squares gap filling of SMAP over (time, y, x), GCV smoothing"

    def _predict(self, case, out):
        cfg = self.config
        index = case.indexes["time"].get_indexer(out.indexes["time"])
        lo, hi = int(index.min()), int(index.max()) + 1
        v = valid_smap(case).values
        smap = case["smap"].values
        result = np.full((hi - lo,) + smap.shape[1:], np.nan, dtype=np.float32)
        step = max(cfg.block_days - 2 * cfg.overlap_days, 1)
        self.fit_info["s"] = []
        for c0 in range(lo, hi, step):
            b0, b1 = max(c0 - cfg.overlap_days, 0), min(c0 + step + cfg.overlap_days, smap.shape[0])
            z, s = dctpls_smooth(
                smap[b0:b1],
                v[b0:b1].astype(float),
                s=cfg.s,
                max_iter=cfg.max_iter,
                axis_weights=(cfg.time_weight, 1.0, 1.0),
            )
            self.fit_info["s"].append(float(s))
            k1 = min(c0 + step, hi)
            result[c0 - lo : k1 - lo] = z[c0 - b0 : k1 - b0]
        noah = case["noah"].values[lo:hi]
        result = np.where(np.isfinite(result), result, noah)  # blocks with no SMAP at all
        return np.clip(result[index - lo], 0.0, 1.0)
