"""Skill metrics as a registry of small objects, computed from sufficient statistics (weatherbench2 style).

Every metric is a function of the *moments* of matched pairs (product p, reference r)::

    n, mean_p, mean_r, var_p, var_r, cov (population, ddof 0)

summed from values shifted by a representative value, so they stay exact far from zero. Scores for
stations, networks and the pooled sample come from summing per-station sums — one pass over the data,
fully vectorised. Sign convention: bias = mean(p - r). Confidence intervals
(``alpha`` = 0.05 for 95 %), as pytesmo:

* bias: Student t, ``b +- t(1 - alpha/2, n - 1) * sd(p - r, ddof=1) / sqrt(n)``;
* R: Fisher z, ``tanh(atanh(R) +- z(1 - alpha/2) / sqrt(n - 3))``;
* RMSE: chi-square with n degrees of freedom, ``sqrt(n RMSE^2 / chi2(1 - alpha/2 | alpha/2, n))``;
* ubRMSE: chi-square with n - 1 degrees of freedom (``pytesmo.metrics.ubrmsd_ci``).

A vectorised percentile bootstrap (:func:`bootstrap_ci`) is available for any metric.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy import stats

from ..errors import ConfigError

#: The sufficient statistics of matched pairs, declared once: name -> the factors whose product is
#: summed over the pairs ('m': 1 for a counted pair, 'p': product, 'r': reference). The numpy path
#: (:meth:`Moments.from_pairs`) and the fused torch kernel both sum exactly these; a metric that needs
#: another moment adds one entry here and one field to :class:`Moments`.
STATISTICS: dict[str, tuple[str, ...]] = {
    "n": ("m",),
    "sp": ("p",),
    "sr": ("r",),
    "spp": ("p", "p"),
    "srr": ("r", "r"),
    "spr": ("p", "r"),
}


def center(a: np.ndarray, size: int = 4096) -> float:
    """A representative value of ``a`` (the median of at most ``size`` evenly spaced finite values; 0 if
    none): the shift that keeps sums of squares from cancelling (:class:`Moments`)."""
    flat = np.asarray(a).reshape(-1)
    if flat.size > 4 * size:
        flat = flat[:: flat.size // size]
    flat = flat[np.isfinite(flat)]
    return float(np.median(flat)) if flat.size else 0.0


@dataclass
class Moments:
    """Sufficient statistics of matched pairs (:data:`STATISTICS`); arrays of any shape (one entry per
    group).

    The sums are of *shifted* values, ``p - kp`` and ``r - kr`` (scalars, e.g. :func:`center` of the
    data), so variances and covariances do not cancel catastrophically when the values sit far from zero
    (1e6 + noise keeps 1e-9 agreement); moments to be added or subtracted share their shifts."""

    n: np.ndarray
    sp: np.ndarray
    sr: np.ndarray
    spp: np.ndarray
    srr: np.ndarray
    spr: np.ndarray
    kp: float = 0.0
    kr: float = 0.0

    @classmethod
    def from_pairs(
        cls,
        p: np.ndarray,
        r: np.ndarray,
        mask: np.ndarray | None = None,
        axis: int | tuple = -1,
        shift: tuple[float, float] | None = None,
    ) -> Moments:
        """Sums over ``axis`` of the pairs where ``mask`` (default: both finite), shifted by ``shift``
        (default: :func:`center` of ``p`` and of ``r``)."""
        return cls.from_pairs_masks(p, r, [mask], axis, shift)[0]

    @classmethod
    def from_pairs_masks(
        cls,
        p: np.ndarray,
        r: np.ndarray,
        masks: Iterable[np.ndarray | None],
        axis: int | tuple = -1,
        shift: tuple[float, float] | None = None,
    ) -> list[Moments]:
        """:meth:`from_pairs` of the same pairs under each of ``masks`` (the splits of one product), with the
        values converted, shifted and tested for finiteness once instead of once per mask."""
        kp, kr = (center(p), center(r)) if shift is None else shift
        finite = np.isfinite(p) & np.isfinite(r)
        p_shifted = np.asarray(p, dtype=np.float64) - kp
        r_shifted = np.asarray(r, dtype=np.float64) - kr

        def total(terms: dict[str, np.ndarray], factors: tuple[str, ...]) -> np.ndarray:
            if len(factors) == 1:
                return terms[factors[0]].sum(axis=axis)
            a, b = (terms[f] for f in factors)
            hot = axis == -1 and a.shape == b.shape  # products of pairs without temporaries
            return np.einsum("...t,...t->...", a, b) if hot else (a * b).sum(axis=axis)

        out = []
        for mask in masks:
            m = finite if mask is None else mask & finite
            terms = {"m": m, "p": np.where(m, p_shifted, 0.0), "r": np.where(m, r_shifted, 0.0)}
            out.append(cls(**{name: total(terms, f) for name, f in STATISTICS.items()}, kp=kp, kr=kr))
        return out

    @classmethod
    def from_stack(cls, a: np.ndarray, axis: int = 0, shift: tuple[float, float] = (0.0, 0.0)) -> Moments:
        """Moments from an array holding the statistics along ``axis`` in :data:`STATISTICS` order, summed
        from values shifted by ``shift``."""
        a = np.moveaxis(np.asarray(a), axis, 0)
        sums = {name: (np.round(v).astype(np.int64) if name == "n" else v) for name, v in zip(STATISTICS, a)}
        return cls(**sums, kp=float(shift[0]), kr=float(shift[1]))

    def stack(self, axis: int = -1) -> np.ndarray:
        """The statistics stacked along ``axis`` in :data:`STATISTICS` order (float64; shifts not included)."""
        return np.stack([np.asarray(getattr(self, f), dtype=np.float64) for f in STATISTICS], axis=axis)

    def __sub__(self, other: Moments) -> Moments:
        """Sums are additive: moments of a subset's complement (both summed with the same shifts)."""
        if (self.kp, self.kr) != (other.kp, other.kr):
            raise ValueError("moments with different shifts cannot be subtracted")
        return Moments(**{f: getattr(self, f) - getattr(other, f) for f in STATISTICS}, kp=self.kp, kr=self.kr)

    def reduce(self, fn: Callable[[np.ndarray], np.ndarray]) -> Moments:
        """Apply a summation (e.g. ``lambda a: a.sum(axis=-1)``) to every sum."""
        return Moments(**{f: fn(getattr(self, f)) for f in STATISTICS}, kp=self.kp, kr=self.kr)

    # derived (population) statistics; NaN where n == 0
    def _div(self, a):
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.n > 0, a / np.maximum(self.n, 1), np.nan)

    @property
    def dev_p(self):
        """Mean of ``p - kp``."""
        return self._div(self.sp)

    @property
    def dev_r(self):
        """Mean of ``r - kr``."""
        return self._div(self.sr)

    @property
    def mean_p(self):
        return self.kp + self.dev_p

    @property
    def mean_r(self):
        return self.kr + self.dev_r

    @property
    def mean_diff(self):
        """mean(p - r), with the shifts subtracted first (exact when p and r are close to each other)."""
        return (self.kp - self.kr) + (self.dev_p - self.dev_r)

    @property
    def var_p(self):
        return np.maximum(self._div(self.spp) - self.dev_p**2, 0.0)

    @property
    def var_r(self):
        return np.maximum(self._div(self.srr) - self.dev_r**2, 0.0)

    @property
    def cov(self):
        return self._div(self.spr) - self.dev_p * self.dev_r

    @property
    def var_diff(self):
        """Population variance of p - r."""
        return np.maximum(self.var_p + self.var_r - 2 * self.cov, 0.0)

    @property
    def msd(self):
        return self.var_diff + self.mean_diff**2


_FUSED_MIN_SIZE = 1_000_000  # elements; below this numpy is faster than compiling
_fused_state: dict = {}


@dataclass
class SplitSums:
    """Per-group moments of all finite pairs and of the pairs where SMAP was valid, plus the number of
    finite product values whatever the reference (to tell an all-NaN product from a silent station)."""

    all: Moments
    valid: Moments
    n_product: np.ndarray

    @property
    def gap(self) -> Moments:
        return self.all - self.valid


def _fused_kernel():
    """A torch.compile'd single pass computing the sums of :class:`SplitSums` (every statistic of
    :data:`STATISTICS` over all finite pairs and over the valid ones, then the finite-product count;
    None if torch's compiler is unavailable here). Inputs may be float32; sums are in float64."""
    if "fn" in _fused_state:
        return _fused_state["fn"]
    try:
        import torch

        def sums(p, r, v, kp, kr, dim: int):
            # few vector ops per element: one finiteness test on p - r (NaN or inf in either fails it),
            # masks as 0/1 floats, and the 'valid' sums as products with those masks; values shifted
            # by (kp, kr) as in Moments.from_pairs
            p = p.to(torch.float64)
            r = r.to(torch.float64)
            inf = float("inf")
            m = (p - r).abs() < inf
            z = torch.zeros((), dtype=p.dtype, device=p.device)
            p0, r0 = torch.where(m, p - kp, z), torch.where(m, r - kr, z)
            mf, vf = m.to(p.dtype), v.to(p.dtype)
            base = {"m": mf, "p": p0, "r": r0}
            valid = {k: t * vf for k, t in base.items()}  # the first factor carries the valid mask

            def total(first, factors):
                x = first[factors[0]]
                for f in factors[1:]:
                    x = x * base[f]
                return x.sum(dim)

            return torch.stack(
                [total(base, f) for f in STATISTICS.values()]
                + [total(valid, f) for f in STATISTICS.values()]
                + [(p.abs() < inf).to(p.dtype).sum(dim)]
            )

        fn = torch.compile(sums, dynamic=True)
    except Exception as exc:  # pragma: no cover - depends on the machine's compiler
        logging.getLogger(__name__).warning("fused scoring kernel unavailable (%s); using numpy", exc)
        fn = None
    _fused_state["fn"] = fn
    return fn


def split_moments(p: np.ndarray, r: np.ndarray, valid: np.ndarray, engine: str = "auto", axis: int = -1) -> SplitSums:
    """Sums over ``axis`` of all finite pairs and of the finite pairs where ``valid``, in one pass.

    ``p``, ``r`` and ``valid`` broadcast against each other (e.g. products (P, T, S) against a
    reference (T, S), ``axis=1``); ``p`` may be float32 (sums are float64). ``engine``: 'numpy',
    'fused' (torch.compile, one memory pass; for archive-size inputs) or 'auto' (fused for inputs of
    at least 1 M elements when the compiler works, else numpy)."""
    if engine not in ("auto", "numpy", "fused"):
        raise ConfigError(f"unknown scoring engine '{engine}' (valid: auto, numpy, fused)")
    shape = np.broadcast_shapes(p.shape, r.shape, valid.shape)
    axis = axis % len(shape)
    use_fused = engine == "fused" or (engine == "auto" and int(np.prod(shape)) >= _FUSED_MIN_SIZE)
    fn = _fused_kernel() if use_fused else None
    shift = (center(p), center(r))
    if fn is not None:
        import torch

        def t(a, kinds):
            a = np.asarray(a)
            if a.dtype.kind not in kinds:
                a = a.astype(np.float64)
            return torch.from_numpy(np.ascontiguousarray(a))

        try:
            kp, kr = (torch.tensor(k, dtype=torch.float64) for k in shift)
            out = fn(t(p, "f"), t(r, "f"), t(np.asarray(valid, bool), "b"), kp, kr, axis).numpy()
        except Exception as exc:  # pragma: no cover - compiler failure at first call
            logging.getLogger(__name__).warning("fused scoring kernel failed (%s); using numpy", exc)
            _fused_state["fn"] = None
        else:
            k = len(STATISTICS)
            return SplitSums(
                Moments.from_stack(out[:k], shift=shift),
                Moments.from_stack(out[k : 2 * k], shift=shift),
                out[2 * k].round().astype(np.int64),
            )
    n_product = np.isfinite(np.broadcast_to(p, shape)).sum(axis=axis)
    return SplitSums(
        Moments.from_pairs(p, r, axis=axis, shift=shift),
        Moments.from_pairs(p, r, valid, axis=axis, shift=shift),
        n_product,
    )


def _ppf(dist, q: float, df) -> np.ndarray:
    """``dist.ppf(q, df)`` evaluated once per distinct ``df`` (degrees of freedom repeat a lot)."""
    df = np.asarray(df, dtype=np.float64)
    u, inv = np.unique(df, return_inverse=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return dist.ppf(q, u)[inv].reshape(df.shape)


#: report tables a metric can appear in (see :mod:`stsg_bench.reports.tables`)
TABLES = ("paper", "split", "groups", "median", "decomposition", "rank", "tcol")
#: the tables of a metric that does not declare its own (the core scores)
CORE_TABLES = ("paper", "split", "groups", "median")


class Metric:
    """A skill metric, declared once: ``value(m)`` and ``ci(m, alpha)`` from :class:`Moments`, plus
    everything reports and the gate need (units, better direction, CI method, gate tolerance, tables).

    A new moment-based metric is one subclass registered with :func:`register_metric`."""

    name: ClassVar[str]
    long_name: ClassVar[str]
    units: ClassVar[str] = "m3 m-3"
    #: which direction is better: 'lower' (RMSE), 'higher' (R), 'zero' (bias: smaller magnitude) or 'one'
    #: (a scaling factor)
    better: ClassVar[str]
    #: how ``ci`` is computed, in words (shown in reports)
    ci_method: ClassVar[str]
    #: default accuracy-gate tolerance (a change in the bad direction larger than this fails)
    tolerance: ClassVar[float]
    #: report tables this metric appears in (a subset of :data:`TABLES`)
    tables: ClassVar[tuple[str, ...]] = CORE_TABLES
    min_n: ClassVar[int] = 2
    #: what the metric is computed from: 'moments' (:class:`Moments`, any reference) or 'samples' (the
    #: matched pairs themselves, station references only: :class:`SampleMetric`)
    kind: ClassVar[str] = "moments"

    def value(self, m: Moments) -> np.ndarray:
        raise NotImplementedError

    def ci(self, m: Moments, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


METRICS: dict[str, Metric] = {}
#: directions of 'better': smaller, larger, closer to 0 (bias), closer to 1 (a scaling factor)
BETTER = ("lower", "higher", "zero", "one")


def register_metric(cls: type[Metric]) -> type[Metric]:
    """Add a metric to :data:`METRICS` (in registration order = column order), checking its declaration."""
    for attr in ("name", "long_name", "better", "ci_method", "tolerance"):
        if not hasattr(cls, attr):
            raise TypeError(f"metric {cls.__name__} must declare '{attr}'")
    if cls.better not in BETTER:
        raise TypeError(f"metric {cls.name}: better must be one of {', '.join(BETTER)}")
    if not set(cls.tables) <= set(TABLES):
        raise TypeError(f"metric {cls.name}: unknown table(s) {sorted(set(cls.tables) - set(TABLES))}")
    if cls.name in METRICS:
        raise ValueError(f"metric '{cls.name}' registered twice")
    METRICS[cls.name] = cls()
    return cls


def metric_names(table: str | None = None) -> list[str]:
    """Registered metric names, all or those shown in ``table``."""
    return [name for name, m in METRICS.items() if table is None or table in m.tables]


def _n(m: Moments) -> np.ndarray:
    return np.asarray(m.n, dtype=np.float64)


@register_metric
class Bias(Metric):
    name, long_name, better = "bias", "mean difference product - reference", "zero"
    ci_method, tolerance, tables = "Student t, n - 1 dof", 0.005, ("paper", "median")

    def value(self, m):
        return m.mean_diff

    def ci(self, m, alpha=0.05):
        n = _n(m)
        var_d = m.var_diff
        with np.errstate(invalid="ignore", divide="ignore"):
            sd = np.sqrt(n / (n - 1) * var_d)
            delta = sd / np.sqrt(n) * _ppf(stats.t, 1 - alpha / 2, n - 1)
        b = self.value(m)
        return b - delta, b + delta


@register_metric
class PearsonR(Metric):
    name, long_name, better, units = "R", "Pearson correlation coefficient", "higher", "1"
    ci_method, tolerance = "Fisher z, n - 3", 0.02
    min_n = 4

    def value(self, m):
        """NaN where either series is constant (as pytesmo/scipy): a variance below the rounding level of
        the shifted sums it comes from (64 eps x mean(x - shift)^2) counts as zero, so a constant series
        never scores +-1."""
        with np.errstate(invalid="ignore", divide="ignore"):
            r = m.cov / np.sqrt(m.var_p * m.var_r)
        eps = 64 * np.finfo(np.float64).eps
        flat = (m.var_p <= eps * m.dev_p**2) | (m.var_r <= eps * m.dev_r**2)
        return np.where(flat, np.nan, np.clip(r, -1.0, 1.0))

    def ci(self, m, alpha=0.05):
        n = _n(m)
        z = stats.norm.ppf(1 - alpha / 2)
        with np.errstate(invalid="ignore", divide="ignore"):
            v = np.arctanh(self.value(m))
            half = z / np.sqrt(n - 3)
        return np.tanh(v - half), np.tanh(v + half)


@register_metric
class Rmse(Metric):
    name, long_name, better = "RMSE", "root-mean-square difference", "lower"
    ci_method, tolerance, tables = "chi-square, n dof", 0.003, ("paper", "split", "median")

    def value(self, m):
        return np.sqrt(m.msd)

    def ci(self, m, alpha=0.05):
        n = _n(m)
        with np.errstate(invalid="ignore", divide="ignore"):
            lo = np.sqrt(n * m.msd / _ppf(stats.chi2, 1 - alpha / 2, n))
            hi = np.sqrt(n * m.msd / _ppf(stats.chi2, alpha / 2, n))
        return lo, hi


@register_metric
class UbRmse(Metric):
    name, long_name, better = "ubRMSE", "unbiased root-mean-square difference", "lower"
    ci_method, tolerance = "chi-square, n - 1 dof", 0.003

    def value(self, m):
        return np.sqrt(m.var_diff)

    def ci(self, m, alpha=0.05):
        n = _n(m)
        ub2 = self.value(m) ** 2
        with np.errstate(invalid="ignore", divide="ignore"):
            lo = np.sqrt(n * ub2 / _ppf(stats.chi2, 1 - alpha / 2, n - 1))
            hi = np.sqrt(n * ub2 / _ppf(stats.chi2, alpha / 2, n - 1))
        return lo, hi


class _MseTerm(Metric):
    """One term of the MSE decomposition ``MSE = 2 s_p s_r (1 - R) + (s_p - s_r)^2 + (mean_p - mean_r)^2``
    (population standard deviations, as ``pytesmo.metrics.mse_decomposition``); no analytic CI."""

    units, better, tolerance = "m6 m-6", "lower", 2e-4
    ci_method, tables = "none", ("decomposition",)

    def ci(self, m, alpha=0.05):
        nan = np.full(np.shape(m.n), np.nan)
        return nan, nan


@register_metric
class Mse(_MseTerm):
    name, long_name = "MSE", "mean square difference"

    def value(self, m):
        return m.msd


@register_metric
class MseCorr(_MseTerm):
    name, long_name = "MSE_corr", "MSE term of imperfect correlation, 2 s_p s_r (1 - R)"

    def value(self, m):
        return np.maximum(2 * np.sqrt(m.var_p) * np.sqrt(m.var_r) - 2 * m.cov, 0.0)


@register_metric
class MseVar(_MseTerm):
    name, long_name = "MSE_var", "MSE term of unequal variability, (s_p - s_r)^2"

    def value(self, m):
        return (np.sqrt(m.var_p) - np.sqrt(m.var_r)) ** 2


@register_metric
class MseBias(_MseTerm):
    name, long_name = "MSE_bias", "MSE term of the bias, (mean_p - mean_r)^2"

    def value(self, m):
        return m.mean_diff**2


class SampleMetric(Metric):
    """A metric that needs the matched samples themselves (ranks, triple collocation), not just their
    moments: computed by the in-situ loop per group, split and window from the pairs (``p``, ``r``) and,
    for triple collocation, a third product ``q`` on the same samples. NaN for gridded references
    (millions of pairs; their moment metrics carry the comparison)."""

    kind = "samples"
    #: needs the third product of a triplet (``ValidationConfig.tc_partner``)
    triplet: ClassVar[bool] = False

    def from_samples(
        self, p: np.ndarray, r: np.ndarray, q: np.ndarray | None, alpha: float, boot: np.ndarray | None
    ) -> tuple[float, float, float]:
        """(value, ci_lower, ci_upper) of finite 1-D pairs; ``boot`` (B, n): how often each pair is drawn
        in each of B bootstrap resamples (None: no bootstrap interval)."""
        raise NotImplementedError

    def value(self, m):  # pragma: no cover - sample metrics are never computed from moments
        raise TypeError(f"metric {self.name} is computed from samples, not moments")

    def ci(self, m, alpha=0.05):  # pragma: no cover
        raise TypeError(f"metric {self.name} is computed from samples, not moments")


def get_metrics(names: list[str] | None = None) -> list[Metric]:
    if names is None:
        return list(METRICS.values())
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise ConfigError(f"unknown metric(s) {', '.join(unknown)} (valid: {', '.join(METRICS)})")
    return [METRICS[n] for n in names]


def score_moments(
    m: Moments, metrics: list[Metric], alpha: float = 0.05
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """{metric: (value, ci_lower, ci_upper)}; NaN where n is below the metric's minimum."""
    out = {}
    n = np.asarray(m.n)
    for met in metrics:
        if met.kind != "moments":  # filled from the samples by the loop that has them
            nan = np.full(n.shape, np.nan)
            out[met.name] = (nan, nan, nan)
            continue
        val = met.value(m)
        lo, hi = met.ci(m, alpha)
        bad = n < met.min_n
        out[met.name] = (np.where(bad, np.nan, val), np.where(bad, np.nan, lo), np.where(bad, np.nan, hi))
    return out


def bootstrap_ci(
    p: np.ndarray, r: np.ndarray, metrics: list[Metric], n_boot: int = 1000, alpha: float = 0.05, seed: int = 0
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap CIs of 1-D matched pairs, all replicates at once (memory n_boot x n)."""
    ok = np.isfinite(p) & np.isfinite(r)
    p, r = np.asarray(p, float)[ok], np.asarray(r, float)[ok]
    if p.size < 4:
        return {met.name: (np.nan, np.nan) for met in metrics}
    idx = np.random.default_rng(seed).integers(0, p.size, (n_boot, p.size))
    m = Moments.from_pairs(p[idx], r[idx], axis=-1)
    return {
        met.name: tuple(np.nanpercentile(met.value(m), [100 * alpha / 2, 100 * (1 - alpha / 2)]))
        if met.kind == "moments"
        else (np.nan, np.nan)
        for met in metrics
    }


def anomalies(
    x: np.ndarray, kind: str = "moving_average", window: int = 35, doy: np.ndarray | None = None
) -> np.ndarray:
    """Anomalies along the last axis (daily series): minus a centred ``window``-day moving average
    (NaN-aware, at least half the window present) or minus the day-of-year climatology (``doy`` needed)."""
    x = np.asarray(x, dtype=np.float64)
    valid = np.isfinite(x)
    if kind == "moving_average":
        half = window // 2
        pad = [(0, 0)] * (x.ndim - 1) + [(half + 1, half)]
        cs = np.cumsum(np.pad(np.where(valid, x, 0.0), pad), axis=-1)
        cn = np.cumsum(np.pad(valid.astype(np.float64), pad), axis=-1)
        s = cs[..., window:] - cs[..., :-window]
        c = cn[..., window:] - cn[..., :-window]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(c >= (window + 1) // 2, s / np.maximum(c, 1), np.nan)
        return x - mean
    if kind == "climatology":
        if doy is None:
            raise ConfigError("climatology anomalies need the day of year of each time step")
        d = np.minimum(np.asarray(doy), 365) - 1
        sums = np.zeros(x.shape[:-1] + (365,))
        cnts = np.zeros_like(sums)
        np.add.at(sums.T, d, np.where(valid, x, 0.0).T)
        np.add.at(cnts.T, d, valid.T.astype(float))
        from scipy.ndimage import uniform_filter1d

        sums = uniform_filter1d(sums, 31, axis=-1, mode="wrap")
        cnts = uniform_filter1d(cnts, 31, axis=-1, mode="wrap")
        with np.errstate(invalid="ignore", divide="ignore"):
            clim = np.where(cnts > 0, sums / cnts, np.nan)
        return x - clim[..., d]
    raise ConfigError(f"unknown anomaly kind '{kind}' (valid: moving_average, climatology)")
