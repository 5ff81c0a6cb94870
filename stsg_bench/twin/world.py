"""The synthetic world: truth from a soil-water balance, SMAP-like and Noah-like observations.

Truth (per land cell, daily): exponential drydown towards the residual water content,
``theta <- theta_r + (theta - theta_r) * exp(-1 / tau_eff)``, plus infiltration of spatially correlated,
seasonal rain ``P/100 * (1 - S)**0.5`` (S relative saturation, 0-10 cm layer), capped at porosity. No
infiltration and slow drying while frozen. Porosity, theta_r and tau follow a smooth texture field.

SMAP-like: truth + regional bias + noise (sigma 0.035); gaps from tilted swath stripes that move each
day (3-day revisit), frozen ground, random RFI blobs and a persistent RFI spot; a dense-vegetation region
keeps its retrievals but flags them (``smap_quality`` False). Noah-like: complete, spatially smoothed,
damped and regionally biased output of the same water balance run with other soil parameters and a
perturbed rain forcing (so Noah's errors have real temporal structure, as a land model's do).

This is the ``white`` error model; :mod:`stsg_bench.twin.realistic` overrides the observation hooks
(``_observe_smap``, ``_model_rain``, ``_noah_bias``, ``station_error``) for realistic errors and gaps
with the same truth. :func:`~stsg_bench.twin.generate.make_world` picks the class from ``TwinSpec.errors``.

Every random draw comes from ``numpy.random.default_rng([seed, stream, day])``, so the world is
bit-reproducible and any day can be generated in order without storing the archive (``iter_days``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter
from scipy.special import ndtri

from .presets import TwinSpec

log = logging.getLogger(__name__)

STATIC, RAIN, OBS, STATION = 0, 1, 2, 3


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float, wrap_x: bool = False) -> np.ndarray:
    """Gaussian-filtered white noise, normalised to zero mean and unit variance."""
    f = gaussian_filter(rng.standard_normal(shape), sigma, mode=("reflect", "wrap" if wrap_x else "reflect"))
    return (f - f.mean()) / (f.std() + 1e-12)


def _uniform(z: np.ndarray) -> np.ndarray:
    """Map a standard-normal field to (0, 1) with the normal CDF."""
    from scipy.special import ndtr

    return ndtr(z)


@dataclass(frozen=True)
class StationError:
    """Representativeness error of a twin station: static bias, AR(1) daily error, sensor gain (log-normal
    factor on the cell's anomalies; 0 = none)."""

    bias_sd: float = 0.02
    phi: float = 0.9
    sd: float = 0.02
    gain_sd: float = 0.0


@dataclass
class DayFields:
    date: pd.Timestamp
    truth: np.ndarray
    smap: np.ndarray
    smap_quality: np.ndarray
    noah: np.ndarray
    frozen: np.ndarray


class TwinWorld:
    """Static fields of one seeded world and a day-by-day generator of its dynamic fields."""

    station_error = StationError()

    def __init__(self, spec: TwinSpec, seed: int = 0):
        self.spec = spec
        self.seed = int(seed)
        self.shape = spec.window.shape
        rng = np.random.default_rng([self.seed, STATIC])
        ny, nx = self.shape
        wrap = spec.window.shape[1] == 964
        lon, lat = spec.window.lonlat()
        self.lat = lat
        self.lon = lon
        land_noise = smooth_noise(rng, self.shape, spec.land_scale, wrap)
        self.land = land_noise > np.quantile(land_noise, 1.0 - spec.land_fraction)
        tex = _uniform(smooth_noise(rng, self.shape, 6.0, wrap))
        self.porosity = 0.38 + 0.12 * tex
        self.theta_r = 0.02 + 0.08 * tex
        self.tau = 4.0 + 8.0 * tex  # drydown e-folding time (days)
        self.wetness = _uniform(smooth_noise(rng, self.shape, 15.0, wrap))  # 0 arid .. 1 humid
        self.noah_bias = 0.03 + 0.02 * smooth_noise(rng, self.shape, 10.0, wrap)
        self.smap_bias = 0.01 + 0.005 * smooth_noise(rng, self.shape, 10.0, wrap)
        veg = smooth_noise(rng, self.shape, 7.0, wrap)
        self.vegetation = _uniform(veg)  # 0 bare .. 1 dense
        self.dense_veg = self.land & (veg > np.quantile(veg[self.land], 0.92)) if self.land.any() else veg > 9
        # a persistent RFI source: one disc of radius ~2 cells
        cy, cx = rng.integers(0, ny), rng.integers(0, nx)
        yy, xx = np.mgrid[0:ny, 0:nx]
        self.rfi_spot = (yy - cy) ** 2 + (xx - cx) ** 2 <= 4
        self.anchor = self.theta_r + 0.45 * (self.porosity - self.theta_r)
        # the land model's soil parameters: a coarser texture map and a different drydown time
        self.model_porosity = gaussian_filter(self.porosity, 4.0)
        self.model_theta_r = gaussian_filter(self.theta_r, 4.0)
        self.model_tau = 0.6 * gaussian_filter(self.tau, 4.0) + 3.0
        alat = np.abs(lat)
        self.t_mean = 32.0 - 0.55 * alat  # crude surface temperature climate (deg C)
        self.t_amp = 0.3 * alat
        self.south = lat < 0
        self.swath_s = (np.arange(nx)[None, :] + spec.window.col0) + 0.35 * (np.arange(ny)[:, None] + spec.window.row0)
        self.swath_width = 0.52 + 0.4 * np.clip(alat / 80.0, 0, 1)  # coverage grows with latitude
        self.dates = pd.date_range(spec.start, periods=spec.ndays, freq="D")

    # -- dynamics -----------------------------------------------------------------------------------
    def _season(self, doy: int) -> np.ndarray:
        """+1 at the local height of summer, -1 in mid-winter."""
        c = -np.cos(2.0 * np.pi * (doy - 15) / 365.25)
        return np.where(self.south, -c, c)

    def _temperature(self, day: int, doy: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, RAIN, day + 100000, 1])
        return self.t_mean + self.t_amp * self._season(doy) + 3.0 * rng.standard_normal()

    def _rain(self, day: int, doy: int, z_prev: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, RAIN, day + 100000])
        z = smooth_noise(rng, self.shape, 3.0, self.shape[1] == 964)
        if z_prev is not None:  # storms persist a little from day to day
            z = 0.5 * z_prev + np.sqrt(0.75) * z
        thr = ndtri(1.0 - self._wet_probability(doy))
        rain = np.maximum(z - thr, 0.0) * 12.0  # mm/day
        return rain, z

    def _wet_probability(self, doy: int) -> np.ndarray:
        return np.clip((0.08 + 0.32 * self.wetness) * (1.0 + 0.35 * self._season(doy)), 0.02, 0.6)

    def _model_rain(self, day: int, doy: int, rain: np.ndarray, z: np.ndarray) -> np.ndarray:
        """The land model's precipitation forcing: the true rain with a multiplicative error."""
        return rain * self._forcing_error(day)

    def _noah_bias(self, doy: int) -> np.ndarray:
        return self.noah_bias

    def iter_days(self, include_spinup: bool = False) -> Iterator[DayFields]:
        """Yield the dynamic fields day by day (memory: a handful of 2-D arrays)."""
        spec = self.spec
        theta = self.anchor.copy()
        theta_model = self.anchor.copy()  # Noah's own water balance (other soil parameters, other rain)
        z = None
        ocean = ~self.land
        start = pd.Timestamp(spec.start)
        for day in range(-spec.spinup_days, spec.ndays):
            date = start + pd.Timedelta(days=day)
            doy = date.day_of_year
            frozen = self._temperature(day, doy) < 0.0
            rain, z = self._rain(day, doy, z)
            season = self._season(doy)
            theta = _water_balance(theta, rain, frozen, self.theta_r, self.porosity, self.tau * (1.0 - 0.35 * season))
            theta_model = _water_balance(
                theta_model,
                self._model_rain(day, doy, rain, z),
                frozen,
                self.model_theta_r,
                self.model_porosity,
                self.model_tau * (1.0 - 0.25 * season),
            )
            if day < 0 and not include_spinup:
                continue
            truth = np.where(ocean, np.nan, theta)
            smap, quality = self._observe_smap(day, truth, frozen)
            noah = self._noah(theta_model, doy)
            yield DayFields(date, truth.astype(np.float32), smap, quality, noah, frozen & self.land)

    def _forcing_error(self, day: int) -> np.ndarray:
        """Multiplicative, spatially correlated error of the model's precipitation forcing."""
        rng = np.random.default_rng([self.seed, RAIN, day + 100000, 2])
        return np.exp(0.6 * smooth_noise(rng, self.shape, 4.0, self.shape[1] == 964) - 0.18)

    def _observe_smap(self, day: int, truth: np.ndarray, frozen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, OBS, day + 100000])
        obs = truth + self.smap_bias + 0.035 * rng.standard_normal(self.shape)
        obs = np.clip(obs, 0.01, 0.75)
        period = 40.0
        phase = (day * 13.0) % period
        covered = ((self.swath_s + phase) % period) < self.swath_width * period
        rfi = smooth_noise(rng, self.shape, 2.0, self.shape[1] == 964) > 2.3
        rfi |= self.rfi_spot & (rng.random() < 0.5)
        missing = ~covered | frozen | rfi | ~self.land
        quality = ~self.dense_veg & (rng.random(self.shape) > 0.02)
        smap = np.where(missing, np.nan, obs).astype(np.float32)
        return smap, quality & ~missing

    def _noah(self, theta_model: np.ndarray, doy: int) -> np.ndarray:
        w = gaussian_filter(self.land.astype(np.float64), 1.2)
        sm = gaussian_filter(np.where(self.land, theta_model, 0.0), 1.2) / np.maximum(w, 1e-6)
        noah = self.anchor + 0.75 * (sm - self.anchor) + self._noah_bias(doy)
        return np.where(self.land, np.clip(noah, 0.02, 0.6), np.nan).astype(np.float32)


def _water_balance(theta, rain, frozen, theta_r, porosity, tau):
    """One daily step: drydown towards theta_r, then infiltration (none while frozen), capped."""
    tau = tau * np.where(frozen, 3.0, 1.0)
    theta = theta_r + (theta - theta_r) * np.exp(-1.0 / tau)
    rel = np.clip((theta - theta_r) / (porosity - theta_r), 0.0, 1.0)
    theta = theta + np.where(frozen, 0.0, rain / 100.0 * np.sqrt(1.0 - rel))
    return np.minimum(theta, porosity)
