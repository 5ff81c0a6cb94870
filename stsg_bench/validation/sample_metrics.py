"""Metrics computed from the matched samples themselves: rank correlations and triple collocation.

* Spearman rho (Pearson R of average ranks) and Kendall tau-b, with the Fisher-z intervals of Bonett &
  Wright (2000) as pytesmo 0.18.1 (``spearman_r_ci``: half-width ``z sqrt(1 + rho^2 / 2) / sqrt(n - 3)``;
  ``kendall_tau_ci``: ``z 0.431 / sqrt(n - 3)``).
* Triple collocation (Gruber et al. 2016/2020; pytesmo ``tcol_metrics``): from the sample covariance
  matrix C of three collocated series (reference r, product p, partner q), the product's

  - signal-to-noise ratio ``SNR_p = -10 log10 | |C_pp C_rq / (C_pr C_pq)| - 1 |`` (dB),
  - scaling to the reference ``beta_p = C_rq / C_pq``,
  - error standard deviation in the reference's units ``sqrt(C_pp - C_pr C_pq / C_rq) * beta_p``,

  with percentile-bootstrap intervals (every resample of the n triplets, ``np.nanquantile`` as pytesmo).
  Triple collocation assumes the three errors are mutually independent: a product fused from GLDAS Noah
  shares Noah's errors, so its triplet with Noah as partner overstates its skill. Choose a partner with
  independent errors (e.g. ERA5-Land or an ESA CCI product) with ``tc_partner``.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
from scipy import stats

from .metrics import METRICS, SampleMetric, register_metric

TC_MIN_N = 100  # pytesmo's minimum_data_length for bootstrapped TC intervals


@functools.lru_cache(maxsize=16)
def normal_quantile(q: float) -> float:
    """``stats.norm.ppf(q)``, remembered: scoring asks for the same few quantiles tens of thousands of times."""
    return float(stats.norm.ppf(q))


def _rank_ci(v: float, n: int, alpha: float, spread: float) -> tuple[float, float]:
    if not np.isfinite(v) or n <= 3:
        return np.nan, np.nan
    half = normal_quantile(1 - alpha / 2) * spread / np.sqrt(n - 3)
    with np.errstate(divide="ignore"):
        z = np.arctanh(v)
    return float(np.tanh(z - half)), float(np.tanh(z + half))


def average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n of ``x`` (finite), ties sharing their mean rank: ``stats.rankdata(x)``'s values exactly
    (half-integers), without its per-call overhead (scoring ranks tens of thousands of short series)."""
    order = np.argsort(x, kind="stable")
    xs = x[order]
    first = np.r_[True, xs[1:] != xs[:-1]]  # the first of each run of equal values
    bounds = np.r_[np.flatnonzero(first), x.size]
    mean_rank = 0.5 * (bounds[:-1] + bounds[1:] + 1)  # positions start..end-1 -> ranks start+1..end
    ranks = np.empty(x.size, dtype=np.float64)
    ranks[order] = mean_rank[np.cumsum(first) - 1]
    return ranks


#: scipy's ``kendalltau`` itself, without the array-API / NaN-policy wrapper around it (which takes two
#: thirds of a call on the few hundred finite pairs scoring hands it, tens of thousands of times); the
#: same function, so the same values (tested against the public one)
_kendalltau = getattr(stats.kendalltau, "__wrapped__", stats.kendalltau)


def spearman_rho(p: np.ndarray, r: np.ndarray) -> float:
    """Pearson R of the average ranks (ties share their mean rank), NaN for a constant series."""
    rp, rr = average_ranks(p), average_ranks(r)
    rp, rr = rp - rp.mean(), rr - rr.mean()
    den = np.sqrt((rp * rp).sum() * (rr * rr).sum())
    return float((rp * rr).sum() / den) if den > 0 else np.nan


@register_metric
class Spearman(SampleMetric):
    name, long_name, better, units = "rho", "Spearman rank correlation", "higher", "1"
    ci_method, tolerance, tables = "Fisher z, Bonett & Wright (2000)", 0.02, ("rank",)
    min_n = 4

    def from_samples(self, p, r, q, alpha, boot):
        v = spearman_rho(p, r)
        return (v, *_rank_ci(v, p.size, alpha, np.sqrt(1 + v**2 / 2)))


@register_metric
class Kendall(SampleMetric):
    name, long_name, better, units = "tau", "Kendall rank correlation (tau-b)", "higher", "1"
    ci_method, tolerance, tables = "Fisher z, Bonett & Wright (2000)", 0.02, ("rank",)
    min_n = 4

    def from_samples(self, p, r, q, alpha, boot):
        v = float(_kendalltau(p, r).statistic)
        return (v, *_rank_ci(v, p.size, alpha, 0.431))


def tcol_from_cov(cov: np.ndarray, ref_ind: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(snr dB, scaled error sd, beta), each (..., 3), of the three datasets whose covariance matrices
    are ``cov`` (..., 3, 3); ``beta`` scales each dataset to dataset ``ref_ind``."""
    c = np.asarray(cov, dtype=np.float64)
    snr, err, beta = (np.empty(c.shape[:-2] + (3,)) for _ in range(3))
    with np.errstate(invalid="ignore", divide="ignore"):
        for i in range(3):
            j, k = (i + 1) % 3, (i + 2) % 3
            cij, cik, cjk = c[..., i, j], c[..., i, k], c[..., j, k]
            snr[..., i] = -10 * np.log10(np.abs(np.abs(c[..., i, i] * cjk / (cij * cik)) - 1))
            err[..., i] = c[..., i, i] - cij * cik / cjk
            if i == ref_ind:
                beta[..., i] = 1.0
            else:
                other = ({0, 1, 2} - {i, ref_ind}).pop()
                beta[..., i] = c[..., ref_ind, other] / c[..., i, other]
        return snr, np.sqrt(err) * beta, beta


def sample_cov3(x: np.ndarray) -> np.ndarray:
    """Covariance matrix (ddof 1, as ``np.cov``) of three series stacked as (3, n)."""
    d = x - x.mean(axis=-1, keepdims=True)
    return d @ d.T / (x.shape[-1] - 1)


def resample_counts(idx: np.ndarray, n: int) -> np.ndarray:
    """Bootstrap resamples given as indices (B, n) -> how often each sample is drawn (B, n), float."""
    b = idx.shape[0]
    flat = (idx + n * np.arange(b)[:, None]).reshape(-1)
    return np.bincount(flat, minlength=b * n).reshape(b, n).astype(np.float64)


def weighted_cov3(x: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Covariance matrices (ddof 1) of the resamples of the three series ``x`` (3, n) drawn with
    ``counts`` (B, n): two matrix products instead of B gathers. Values are centred first."""
    n = x.shape[1]
    d = x - x.mean(axis=1, keepdims=True)
    s1 = counts @ d.T  # (B, 3)
    s2 = (counts @ (d[:, None, :] * d[None, :, :]).reshape(9, n).T).reshape(-1, 3, 3)
    return (s2 - s1[:, :, None] * s1[:, None, :] / n) / (n - 1)


def tcol_with_ci(
    r: np.ndarray, p: np.ndarray, q: np.ndarray, alpha: float, counts: np.ndarray | None, ref_ind: int = 0
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Triple collocation of (r, p, q): {'snr' | 'err_std' | 'beta': (value, lower, upper)}, each of
    length 3 (r, p, q); percentile intervals over the bootstrap resamples ``counts`` (B, n) (see
    :func:`resample_counts`; NaN without; the reference's beta interval is (1, 1) as pytesmo)."""
    x = np.stack([r, p, q]).astype(np.float64)
    est = tcol_from_cov(sample_cov3(x), ref_ind)
    out = {}
    for name, v in zip(("snr", "err_std", "beta"), est, strict=True):
        out[name] = (v, np.full(3, np.nan), np.full(3, np.nan))
    if counts is None or counts.size == 0:
        return out
    bs = tcol_from_cov(weighted_cov3(x, counts), ref_ind)  # (B, 3) each
    for name, b in zip(("snr", "err_std", "beta"), bs, strict=True):
        with warnings.catch_warnings(), np.errstate(invalid="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)  # resamples with infinite SNR / all NaN
            lo = np.nanquantile(b, alpha / 2, axis=0)
            hi = np.nanquantile(b, 1 - alpha / 2, axis=0)
        if name == "beta":
            lo[ref_ind], hi[ref_ind] = 1.0, 1.0
        out[name] = (out[name][0], lo, hi)
    return out


class _Tcol(SampleMetric):
    """One of the product's triple-collocation estimates in the triplet (in-situ, product, partner),
    scaled to the in-situ reference; percentile-bootstrap CI."""

    triplet = True
    ci_method, tables, min_n = "percentile bootstrap", ("tcol",), TC_MIN_N
    key: str

    def from_samples(self, p, r, q, alpha, boot):
        if q is None:
            return np.nan, np.nan, np.nan
        v, lo, hi = tcol_with_ci(r, p, q, alpha, boot)[self.key]
        return float(v[1]), float(lo[1]), float(hi[1])

    @staticmethod
    def all_from_samples(p, r, q, alpha, boot) -> dict[str, tuple[float, float, float]]:
        """Every registered TC metric at once (one covariance per resample)."""
        est = tcol_with_ci(r, p, q, alpha, boot)
        out = {}
        for m in METRICS.values():
            if isinstance(m, _Tcol):
                v, lo, hi = est[m.key]
                out[m.name] = (float(v[1]), float(lo[1]), float(hi[1]))
        return out


@register_metric
class TcSnr(_Tcol):
    name, long_name, better, units, key = "TC_SNR", "triple-collocation signal-to-noise ratio", "higher", "dB", "snr"
    tolerance = 0.5


@register_metric
class TcErr(_Tcol):
    name, long_name, better, key = "TC_err", "triple-collocation error sd (in-situ units)", "lower", "err_std"
    tolerance = 0.003


@register_metric
class TcBeta(_Tcol):
    name, long_name, better, units, key = "TC_beta", "triple-collocation scaling to in-situ", "one", "1", "beta"
    tolerance = 0.05
