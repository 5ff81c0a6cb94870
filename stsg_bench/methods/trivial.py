"""Trivial baselines every fusion method must beat: persistence, temporal smoothing of a product, and
the pixelwise mean of other products. Each is a few lines of arithmetic; a method that loses to one of
them has not learned what its complexity promises (README, "Methods").

Every setting these baselines learn is chosen on the *training* period (the test period is never
looked at), by the same rule: predict training days whose SMAP is usable without that day's SMAP and
keep the setting with the lowest RMSE against it.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import numpy as np
import xarray as xr

from .. import threads
from ..case import valid_smap
from ..configs import check_ranges
from .base import Method, MethodConfig, get_method, list_methods, method_class, register, smap_key
from .simple import Climatology

log = logging.getLogger(__name__)
#: e-folding times (days) tried for the persistence's relaxation to the climatology (1e6: none)
RELAX_CANDIDATES = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 1e6)
#: centred windows (days) tried for the temporal mean
WINDOW_CANDIDATES = (1, 3, 5, 7, 9, 15, 31)


def last_usable(valid: np.ndarray, strict: bool) -> np.ndarray:
    """Per (day, cell) the index of the most recent day with usable SMAP (``strict``: before the day,
    else on or before it); -1 where none."""
    t = np.arange(valid.shape[0])[:, None, None]
    idx = np.maximum.accumulate(np.where(valid, t, -1), axis=0)
    if strict:
        idx = np.concatenate([np.full((1, *valid.shape[1:]), -1), idx[:-1]], axis=0)
    return idx


def persist(smap: np.ndarray, valid: np.ndarray, clim: np.ndarray, tau: float, max_age: int) -> np.ndarray:
    """Each day: the climatology plus the last usable SMAP anomaly (strictly before the day), decayed by
    exp(-age / tau); the climatology where no usable SMAP is within ``max_age`` days."""
    prev = last_usable(valid, strict=True)
    has = prev >= 0
    src = np.maximum(prev, 0)
    anomaly = np.take_along_axis(smap, src, axis=0) - np.take_along_axis(clim, src, axis=0)
    age = np.arange(smap.shape[0])[:, None, None] - prev
    decay = np.exp(-age / tau)
    keep = has & (age <= max_age) & np.isfinite(anomaly)
    return np.where(keep, clim + np.where(keep, anomaly, 0.0) * decay, clim)


def unfilled(name: str) -> Method:
    """Method ``name`` set to give its own field everywhere (usable SMAP not passed through)."""
    fields = {f.name for f in dataclasses.fields(method_class(name).Config)}
    if "passthrough" in fields:
        return get_method(name, passthrough=False)
    if "mode" in fields:  # DrcGAN and its ablations: the generator's field on every day
        return get_method(name, mode="paper")
    return get_method(name)


@dataclass
class PersistenceConfig(MethodConfig):
    relax_days: float = 0.0  # e-folding time towards the climatology; 0: chosen on the training period
    max_age: int = 120  # older SMAP is not carried forward: the climatology (else Noah) instead

    def __post_init__(self):
        check_ranges(self, minimum={"relax_days": 0, "max_age": 1})


@register
class Persistence(Method):
    """The last usable SMAP carried forward, relaxing to the SMAP day-of-year climatology of the training
    period (Noah where it has none): ``clim(t) + (SMAP(t0) - clim(t0)) * exp(-(t - t0) / relax_days)``,
    with ``t0`` the last usable SMAP day before ``t``. Uses only the past: what a forecast would know."""

    name = "persistence"
    order = 26
    Config = PersistenceConfig
    description = "trivial: last usable SMAP carried forward, relaxing to the SMAP climatology (e-folding on training)"
    needs_fit = True

    @property
    def halo_days(self) -> int:
        return self.config.max_age

    def _climatology(self, ds: xr.Dataset) -> np.ndarray:
        doy = np.minimum(ds["time"].dt.dayofyear.values, 365) - 1
        clim = self.clim.clim[doy]
        return np.where(np.isfinite(clim), clim, ds["noah"].values).astype(np.float64)

    def _fit(self, train: xr.Dataset) -> None:
        self.clim = Climatology()
        self.clim._fit(train)
        if self.config.relax_days > 0:
            self.tau = float(self.config.relax_days)
            return
        valid = valid_smap(train).values
        smap = np.where(valid, train["smap"].values, np.nan).astype(np.float64)
        clim = self._climatology(train)

        def score(tau: float) -> float:  # each usable day predicted from the days before it
            err = (persist(smap, valid, clim, tau, self.config.max_age) - smap)[valid]
            return float(np.sqrt(np.nanmean(err**2))) if err.size else np.inf

        scores = threads.parallel_map(score, RELAX_CANDIDATES)  # independent candidates, same bits
        self.tau = RELAX_CANDIDATES[int(np.argmin(scores))]
        self.fit_info["relax_days"] = self.tau
        self.fit_info["train_rmse"] = round(min(scores), 6)

    def _predict(self, case, out):
        valid = valid_smap(case).values
        smap = np.where(valid, case["smap"].values, np.nan).astype(np.float64)
        pred = persist(smap, valid, self._climatology(case), self.tau, self.config.max_age)
        return pred[case.indexes["time"].get_indexer(out.indexes["time"])]


def running_mean(field: np.ndarray, window: int) -> np.ndarray:
    """Centred running mean over time (axis 0) of ``window`` days, NaN-aware (fewer days at the ends)."""
    if window <= 1:
        return field
    finite = np.isfinite(field)
    vals = np.where(finite, field, 0.0)
    pad = window // 2
    csum = np.concatenate([np.zeros((1, *field.shape[1:])), np.cumsum(vals, axis=0)])
    ccnt = np.concatenate([np.zeros((1, *field.shape[1:])), np.cumsum(finite, axis=0)])
    t = np.arange(field.shape[0])
    lo, hi = np.clip(t - pad, 0, field.shape[0]), np.clip(t + pad + 1, 0, field.shape[0])
    total, count = csum[hi] - csum[lo], ccnt[hi] - ccnt[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


@dataclass
class TemporalMeanConfig(MethodConfig):
    base: str = "lin_cdf_match"  # the product smoothed (a registered method, fitted with its defaults)
    window_days: int = 0  # centred window (odd); 0: chosen on the training period

    def __post_init__(self):
        check_ranges(self, minimum={"window_days": 0})
        if self.window_days and self.window_days % 2 == 0:
            raise ValueError(f"window_days must be odd, got {self.window_days}")


@register
class TemporalMean(Method):
    """A centred running mean in time of another method's product (default: linear CDF matching), usable
    SMAP passed through afterwards. The window is chosen on the training period: the base method without
    SMAP pass-through, smoothed, against the usable SMAP it never saw that day."""

    name = "temporal_mean"
    order = 55
    Config = TemporalMeanConfig
    description = "trivial: centred running mean in time of a product (lin_cdf_match; window chosen on training)"
    needs_fit = True

    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        self.window = self.config.window_days or 1

    @property
    def halo_days(self) -> int | None:
        base = get_method(self.config.base).halo_days
        return None if base is None else base + self.config.window_days // 2 + max(WINDOW_CANDIDATES) // 2

    def _fit_case(self, case, train, period, progress):
        self.base = unfilled(self.config.base)
        self.base.fit(case, period)
        if not self.config.window_days:
            pred = self.base.predict(case, period).values.astype(np.float64)
            valid = valid_smap(train).values
            truth = train["smap"].values
            scores = threads.parallel_map(  # independent candidates, the same bits in threads
                lambda w: float(np.sqrt(np.nanmean(((running_mean(pred, w) - truth)[valid]) ** 2))), WINDOW_CANDIDATES
            )
            self.window = WINDOW_CANDIDATES[int(np.nanargmin(scores))]
            self.fit_info["train_rmse"] = round(float(np.nanmin(scores)), 6)
        self.fit_info["window_days"] = self.window

    def _predict(self, case, out):
        smooth = running_mean(self.base.predict(case).values.astype(np.float64), self.window)
        return smooth[case.indexes["time"].get_indexer(out.indexes["time"])]


@dataclass
class EnsembleConfig(MethodConfig):
    members: tuple[str, ...] = ("starfm", "dctpls")  # registered methods
    weights: tuple[float, ...] | None = None  # one per member (normalised where members have values); None: equal

    def __post_init__(self):
        if len(self.members) < 2 or len(set(self.members)) != len(self.members):
            raise ValueError(f"members must name at least two different methods, got {list(self.members)}")
        self.members = tuple(self.members)
        unknown = [m for m in self.members if m not in list_methods() or issubclass(method_class(m), Ensemble)]
        if unknown:
            raise ValueError(f"members: {unknown[0]!r} is not a registered method other than an ensemble")
        if self.weights is not None:
            self.weights = tuple(float(w) for w in self.weights)
            if len(self.weights) != len(self.members) or min(self.weights) < 0 or sum(self.weights) <= 0:
                raise ValueError(
                    f"weights must be one non-negative number per member, not all 0, got {list(self.weights)}"
                )


@register
class Ensemble(Method):
    """The pixelwise mean of other methods' products (default: STARFM and DCT-PLS, the two best
    baselines on the twins), each fitted with its defaults, usable SMAP passed through. Errors that the
    members do not share average out: a learned fusion should beat this."""

    name = "ensemble"
    order = 75
    Config = EnsembleConfig
    description = "trivial: pixelwise mean of starfm and dctpls (members configurable)"
    needs_fit = True

    @property
    def halo_days(self) -> int | None:
        halos = [get_method(m).halo_days for m in self.config.members]
        return None if any(h is None for h in halos) else max(halos)  # type: ignore[type-var]

    def _fit_case(self, case, train, period, progress):
        """Members are fitted when first predicted: a member whose product the run hands over for the
        case predicted (:meth:`given_products`) is never fitted (DrcGAN is not trained twice)."""
        self.members = [unfilled(m) for m in self.config.members]
        self._fit_on = (case, period, progress)
        self.fit_info["members"] = " ".join(self.config.members)

    def combines(self) -> tuple[str, ...]:
        # a member's product with SMAP passed through gives this product unchanged (SMAP is passed through
        # here too, and a member's gap values do not depend on its pass-through): reusable then only
        return tuple(self.config.members) if self.config.passthrough else ()

    def _member_field(self, name: str, member: Method, case, out) -> np.ndarray:
        """A member's field on ``out``'s days: its product from the run when one was handed over for this
        case (same days; usable SMAP passed through, which also tells a thinned case from the whole one),
        else predicted here."""
        given = getattr(self, "_given", {}).get(name)
        if given is not None and given.indexes["time"].equals(out.indexes["time"]):
            if getattr(self, "_given_key", None) == smap_key(case):
                return np.asarray(given.values, dtype=np.float64)
            log.debug("ensemble: the %s product handed over is from another case: predicting it", name)
        period = (str(out["time"].values[0])[:10], str(out["time"].values[-1])[:10])
        if not member.fitted:
            fit_case, fit_period, progress = self._fit_on
            member.fit(fit_case, fit_period, progress=progress)
        return member.predict(case, period).values.astype(np.float64)

    def _predict(self, case, out):
        fields = [self._member_field(n, m, case, out) for n, m in zip(self.config.members, self.members, strict=True)]
        stack = np.stack(fields)
        weights = self.config.weights or (1.0,) * len(fields)  # equal: the plain mean, the same bits
        w = np.asarray(weights, dtype=np.float64).reshape((-1,) + (1,) * (stack.ndim - 1))
        total = np.where(np.isfinite(stack), w, 0.0).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, np.nansum(stack * w, axis=0) / total, np.nan)
