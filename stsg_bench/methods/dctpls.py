"""DCT-PLS gap filling (Garcia 2010, Comput. Stat. Data Anal. 54:1167; Wang et al. 2012 for soil
moisture): the method behind ESA CCI SM GAPFILLED (Preimesberger et al. 2025), which uses pytesmo's
``smoothn``. :func:`smoothn` here follows that reference step for step, so the two agree to 1e-6
(tested against pytesmo 0.18.1 on its own kind of test fields and on real Hawai'i SMAP blocks):

* Penalised least squares ``min ||sqrt(W)(y - z)||^2 + s ||D z||^2`` is diagonal in the type-II DCT
  basis: ``z = IDCT(Gamma * DCT(W (y - z) + z))``, ``Gamma = 1 / (1 + s Lambda^2)``,
  ``Lambda = sum_d (2 - 2 cos(pi k_d / n_d))``; gaps get weight 0 and are filled by the iteration,
  over-relaxed by 1.75 when any weight is below 1.
* Initial guess (weighted case): every gap takes its nearest observation (Euclidean distance in index
  units, ``sampling`` per axis), then only the lowest 10 % of the DCT coefficients per axis are kept.
* ``s`` by generalised cross-validation, ``GCV(p) = (wRSS / n_obs) / (1 - Tr(H) / n)^2`` with
  ``s = 10^p``, minimised by bounded Brent search (``fminbound``, xtol 0.1) between the bounds that
  correspond to leverages 0.99 and 1e-6; re-estimated at inner iterations 0, 1, 2, 4, 8, ...
  (the GCV score is evaluated in float32, as the reference does).
* Robust mode (the reference's default): three passes; after each, observations are re-weighted with
  Cauchy weights of their studentised residuals (MAD scale, leverage ``h`` from ``s``). As in pytesmo,
  ``h`` is not raised to the power of the number of dimensions (Garcia's MATLAB code does).

Long periods are processed in overlapping time blocks (memory bounded by ``block_days``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import optimize
from scipy.fft import dct, idct
from scipy.ndimage import distance_transform_edt

from .. import threads
from ..case import valid_smap
from ..configs import check_ranges
from .base import Method, MethodConfig, register

log = logging.getLogger(__name__)
H_MIN, H_MAX = 1e-6, 0.99  # leverage range that bounds s
P_TOL = 0.1  # tolerance on log10(s) of the GCV search
INIT_COEFF = 0.1  # share of the DCT coefficients kept per axis for the initial guess


def dct_nd(a: np.ndarray, inverse: bool = False, workers: int | None = None) -> np.ndarray:
    """Orthonormal type-II DCT (or its inverse) along every axis in turn, on ``workers`` threads (default:
    the threads this process may use; pocketfft splits the independent 1-D transforms among them: the
    same bits as one thread)."""
    f = idct if inverse else dct
    workers = workers or threads.current()
    for ax in range(a.ndim):
        a = f(a, type=2, norm="ortho", axis=ax, workers=workers)
    return a


def sum_sq(a: np.ndarray) -> float:
    """Sum of squares by numpy's pairwise summation, not BLAS's dot (``np.linalg.norm``): the same on every
    CPU and thread count, and blocks smoothed in parallel threads do not queue on BLAS's lock. Only the
    float32 GCV score and the convergence test read it, which absorb its last bits (fields tested equal)."""
    return float(np.sum(np.square(a)))


def eigenvalues(shape: tuple[int, ...], dtype=np.float64) -> np.ndarray:
    """``Lambda``: the eigenvalues of the second-difference operator in the DCT basis."""
    lam = np.zeros(shape, dtype=dtype)
    for ax, n in enumerate(shape):
        vec = (2.0 - 2.0 * np.cos(np.pi * np.arange(n) / n)).astype(dtype)
        lam += vec.reshape([n if a == ax else 1 for a in range(len(shape))])
    return lam


def s_bounds(ndim: int) -> tuple[float, float]:
    """Smoothing bounds for leverages ``H_MAX`` and ``H_MIN`` (second-order penalty)."""

    def s_of(h: float) -> float:
        g = h ** (2.0 / ndim)
        return (((1 + np.sqrt(1 + 8 * g)) / 4 / g) ** 2 - 1) / 16

    return s_of(H_MAX), s_of(H_MIN)


def gcv_score(
    p: float,
    lam2: np.ndarray,
    dct_y: np.ndarray,
    y: np.ndarray,
    observed: tuple[np.ndarray, ...] | None,
    workers: int | None = None,
) -> np.ndarray:
    """The GCV score of ``s = 10**p`` as a float32 array of one value: the reference's form, which sets
    the precision of the Brent search's own arithmetic (a Python float gives another stopping point).
    ``lam2``: ``Lambda**2``; ``observed``: ``(finite, sqrt(w[finite]), y[finite])``, fixed during a search
    (None where every weight is 1)."""
    gamma = 1.0 / (1.0 + 10.0**p * lam2)
    if observed is None:  # all weights 1: the residual is diagonal in the DCT basis
        rss = sum_sq(dct_y * (gamma - 1.0))
    else:
        finite, sqrt_w, y_obs = observed
        yhat = dct_nd(gamma * dct_y, inverse=True, workers=workers)
        rss = sum_sq(sqrt_w * (y_obs - yhat[finite]))
    # divided by all n, not the n observed as in Garcia's paper: the minimiser is the same, and so is the
    # float32 rounding the search sees (pytesmo's gcv counts the zero-filled gaps as finite)
    return np.array([rss / y.size / (1.0 - gamma.sum() / y.size) ** 2], dtype=np.float32)


def initial_guess(y: np.ndarray, gaps: np.ndarray, sampling, workers: int | None = None) -> np.ndarray:
    """Nearest observation in every gap, then the lowest ``INIT_COEFF`` of the DCT coefficients."""
    z = y.copy()
    if gaps.any():
        _, idx = distance_transform_edt(gaps.astype(int), return_indices=True, sampling=sampling)
        z[gaps] = z[tuple(i[gaps] for i in idx)]
    coef = dct_nd(z, workers=workers)
    keep = tuple(slice(None, int(np.ceil(n * INIT_COEFF))) for n in z.shape)
    coarse = np.zeros_like(coef)
    coarse[keep] = coef[keep]
    return dct_nd(coarse, inverse=True, workers=workers).astype(y.dtype)


def cauchy_weights(residuals: np.ndarray, finite: np.ndarray, h: float) -> np.ndarray:
    """Robust weights from the studentised residuals (median absolute deviation scale)."""
    r = residuals[finite]
    mad = np.median(np.abs(r - np.median(r)))
    u = np.abs(residuals / (1.4826 * mad)) / np.sqrt(1.0 - h)
    w = 1.0 / (1.0 + (u / 2.385) ** 2)
    w[np.isnan(w)] = 0.0
    return w


@dataclass
class SmoothnResult:
    z: np.ndarray
    s: float
    converged: bool


def smoothn(
    y: np.ndarray,
    weights: np.ndarray | None = None,
    s: float | None = None,
    robust: bool = True,
    max_iter: int = 100,
    tol: float = 1e-3,
    sampling: float | tuple[float, ...] = 1.0,
    workers: int | None = None,
) -> SmoothnResult:
    """Smooth and fill an N-D array (NaN = gap) by DCT-PLS; ``s=None`` chooses s by GCV.

    ``weights`` (0..1, normalised by their maximum) weight the observations; ``sampling`` is the grid
    spacing per axis used for the nearest-neighbour initial guess; ``workers``: threads of the DCTs
    (default: this process's; the result does not depend on it)."""
    y = np.array(y, dtype=np.float64)
    w = np.ones(y.shape) if weights is None else np.asarray(weights, dtype=np.float64) / np.max(weights)
    w = w.astype(np.float32)
    finite = np.isfinite(y)
    if finite.sum() < 2:
        return SmoothnResult(np.full(y.shape, np.nan), np.nan, False)
    y[~finite] = 0.0
    w[~finite] = 0.0
    weighted = bool(np.any(w != 1))
    lam2 = eigenvalues(y.shape, y.dtype) ** 2
    lo, hi = (np.log10(b) for b in s_bounds(y.ndim))
    samp = tuple(np.broadcast_to(np.asarray(sampling, dtype=float), (y.ndim,)))
    z0 = initial_guess(y, ~finite, samp, workers) if weighted else np.zeros_like(y)
    z = z0.copy()
    relax = 1.0 + 0.75 * weighted
    w_tot = w.copy()
    p: float | None = float(np.log10(s)) if s is not None else None
    converged = True
    for _pass in range(3 if robust else 1):
        change, j = 1.0, 0
        while change > tol and j < max_iter:
            dct_y = dct_nd(w_tot * (y - z) + z, workers=workers)
            if s is None and (j == 0 or np.log2(j).is_integer()):
                observed = None if w_tot.sum() / y.size >= 1.0 else (finite, np.sqrt(w_tot[finite]), y[finite])
                args = (lam2, dct_y, y, observed, workers)
                found = optimize.fminbound(gcv_score, lo, hi, args=args, xtol=P_TOL)
                p = float(np.ravel(found)[0])
            assert p is not None
            gamma = 1.0 / (1.0 + 10.0**p * lam2)
            z = relax * dct_nd(gamma * dct_y, inverse=True, workers=workers) + (1.0 - relax) * z
            change = float(weighted * np.sqrt(sum_sq(z[finite] - z0[finite]) / sum_sq(z[finite])))
            z0 = z.copy()
            j += 1
        converged = converged and change <= tol
        if robust and p is not None:
            h = np.sqrt(1 + 16 * 10.0**p)
            h = np.sqrt(1 + h) / np.sqrt(2) / h
            w_tot = w * cauchy_weights(y - z, finite, h)
            weighted = True
    assert p is not None
    return SmoothnResult(z, float(10.0**p), converged)


@dataclass
class DctPlsConfig(MethodConfig):
    s: float | None = None  # smoothing; None = GCV
    robust: bool = True  # Cauchy re-weighting in three passes (pytesmo's default)
    block_days: int = 64
    overlap_days: int = 16
    max_iter: int = 100
    tol: float = 1e-3

    def __post_init__(self):
        check_ranges(self, minimum={"block_days": 2, "overlap_days": 0, "max_iter": 1}, positive=("s", "tol"))


@register
class DctPls(Method):
    name = "dctpls"
    order = 70
    halo_days = None  # smooths whole series: cannot be split into time chunks
    Config = DctPlsConfig
    description = "Garcia's DCT-PLS gap filling of SMAP over (time, y, x) as pytesmo's smoothn (GCV, robust)"

    def _predict(self, case, out):
        cfg = self.config
        index = case.indexes["time"].get_indexer(out.indexes["time"])
        lo, hi = int(index.min()), int(index.max()) + 1
        v = valid_smap(case).values
        smap = case["smap"].values
        result = np.full((hi - lo,) + smap.shape[1:], np.nan, dtype=np.float32)
        step = max(cfg.block_days - 2 * cfg.overlap_days, 1)
        # (first kept day, block start, block end) of each time block
        blocks = [
            (c0, max(c0 - cfg.overlap_days, 0), min(c0 + step + cfg.overlap_days, smap.shape[0]))
            for c0 in range(lo, hi, step)
        ]

        # the blocks are independent: with n threads to spare, n blocks run at once on one thread each
        # (numpy and pocketfft release the GIL; a block's result does not depend on its threads, so the
        # product is the same bits whatever n). pocketfft's own threads gain little on these small
        # transforms (~1.2x for 2), the blocks ~1.8x.
        n = min(threads.current(), len(blocks))
        workers = 1 if n > 1 else None

        def smooth(block: tuple[int, int, int]) -> SmoothnResult:
            _, b0, b1 = block
            obs = np.where(v[b0:b1], smap[b0:b1], np.nan)
            return smoothn(obs, s=cfg.s, robust=cfg.robust, max_iter=cfg.max_iter, tol=cfg.tol, workers=workers)

        results = threads.parallel_map(smooth, blocks, n)
        self.fit_info["s"] = [r.s for r in results]
        for (c0, b0, _), res in zip(blocks, results, strict=True):
            k1 = min(c0 + step, hi)
            result[c0 - lo : k1 - lo] = res.z[c0 - b0 : k1 - b0]
        noah = case["noah"].values[lo:hi]
        result = np.where(np.isfinite(result), result, noah)  # blocks with no SMAP at all
        return np.clip(result[index - lo], 0.0, 1.0)
