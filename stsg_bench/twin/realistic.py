"""The ``realistic`` error model of the twin: observations whose errors look like real ones.

The white-noise twin (:class:`~stsg_bench.twin.world.TwinWorld`) rewards smoothing: its SMAP error is
independent from pixel to pixel and day to day, so a 3x3 mean of SMAP beats SMAP itself against truth
by ~48 %. Real retrieval errors are not like that; this world keeps the same truth and replaces:

* **SMAP retrieval error**: a static bias (wet near water: coastal contamination of the 36 km
  footprint; dry under dense vegetation) plus a dynamic error ``sigma(x) * (sqrt(1 - w) e_t +
  sqrt(w) n_t)``: ``e_t`` an AR(1) field in time (``phi`` 0.55) of spatially correlated innovations
  (Gaussian-filtered noise; with the white part the correlation falls to 1/e at ~3.4 cells), ``n_t``
  white (radiometer noise, share ``w`` 0.15 of the variance). ``sigma`` grows with vegetation density
  and the water fraction around the cell (0.025 bare inland .. ~0.07 dense vegetation at the coast);
  the PM pass is 15 % noisier.
* **SMAP gaps from the orbit**: a 6 am descending and a 6 pm ascending pass per day, 14.625 orbits a
  day on an 8-day exact repeat (tracks shift by 0.625 orbit spacing a day), a 1,000 km swath whose
  width in grid columns grows as 1/cos(latitude), ground tracks tilted against the columns; AM used
  where present, else PM. Retrievals fail more often near water; frozen ground, RFI (random blobs and a
  persistent source) and dense vegetation (retrieved but flagged) as in the white world.
* **Noah**: forced with rain that shares only part of the truth's storms (correlation 0.7 with the
  truth's storm field, the rest an independent realisation), a drydown rate from other soil
  parameters, and a bias with a seasonal cycle whose amplitude varies in space.
* **Stations**: a larger static bias (sd 0.04), AR(1) representativeness error (phi 0.95, sd 0.03) and
  a sensor gain (log-normal, sd 0.2) on the cell's anomalies: SMAP-vs-station ubRMSE of 0.05-0.07,
  as at sparse networks (core validation sites, which average several probes, give ~0.04).

``stsg-bench twin`` prints the realised statistics (:mod:`stsg_bench.validation.twin_stats`); the README
compares them with the real Hawai'i data and published figures.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import uniform_filter
from scipy.special import ndtri

from .presets import TwinSpec
from .world import OBS, RAIN, STATIC, StationError, TwinWorld, smooth_noise

#: orbits a day and the ground-track shift per day (fraction of the track spacing), SMAP's 8-day repeat
ORBITS_PER_DAY = 14.625
TRACK_SHIFT = 0.625
SWATH_KM = 1000.0
KM_PER_DEGREE = 111.32


class RealisticWorld(TwinWorld):
    """A :class:`TwinWorld` (same truth for the same seed) with realistic observation errors and gaps."""

    station_error = StationError(bias_sd=0.04, phi=0.95, sd=0.03, gain_sd=0.2)
    error_phi = 0.55  # lag-1 autocorrelation of the correlated error component
    error_scale = 1.9  # Gaussian filter sigma of its innovations (cells): e-folding length ~3.4 cells
    white_share = 0.15  # share of the dynamic error variance that is white (radiometer noise)

    def __init__(self, spec: TwinSpec, seed: int = 0):
        super().__init__(spec, seed)
        rng = np.random.default_rng([self.seed, STATIC, 1])
        wrap = self.shape[1] == 964
        water = uniform_filter((~self.land).astype(np.float64), 3, mode="nearest")  # 3x3 water fraction
        self.water = np.where(self.land, water, 1.0)
        veg = self.vegetation  # 0 bare .. 1 dense
        self.smap_sigma = 0.025 + 0.03 * veg + 0.06 * self.water
        self.smap_bias = self.smap_bias + 0.05 * self.water - 0.02 * veg
        self.noah_season_amp = 0.025 * smooth_noise(rng, self.shape, 8.0, wrap)
        ny, nx = self.shape
        rows = np.arange(ny)[:, None] + spec.window.row0
        cols = np.arange(nx)[None, :] + spec.window.col0
        spacing = 964.0 / ORBITS_PER_DAY  # grid columns between neighbouring ground tracks
        deg_per_col = 360.0 / 964.0
        cos_lat = np.maximum(np.cos(np.deg2rad(self.lat)), 0.05)
        self.swath_cols = np.minimum(SWATH_KM / (KM_PER_DEGREE * cos_lat) / deg_per_col, spacing)
        self.track_spacing = spacing
        # along-track coordinate: descending (AM) and ascending (PM) tracks lean opposite ways
        self.track_am = cols + 0.2 * rows
        self.track_pm = cols - 0.2 * rows + 0.5 * spacing
        self.fail_prob = 0.05 + 0.5 * self.water  # retrieval failures, mostly where water is in view
        self._error = np.zeros(self.shape)
        self._error_day: int | None = None

    def _covered(self, track: np.ndarray, day: int) -> np.ndarray:
        phase = (day * TRACK_SHIFT * self.track_spacing) % self.track_spacing
        return ((track - phase) % self.track_spacing) < self.swath_cols

    def _dynamic_error(self, day: int, rng: np.random.Generator) -> np.ndarray:
        """Advance the AR(1) correlated error field to ``day`` (days arrive in order) and add white noise."""
        wrap = self.shape[1] == 964
        innovation = smooth_noise(rng, self.shape, self.error_scale, wrap)
        if self._error_day is None or day != self._error_day + 1:
            self._error = innovation  # first day: the stationary distribution
        else:
            self._error = self.error_phi * self._error + np.sqrt(1.0 - self.error_phi**2) * innovation
        self._error_day = day
        white = rng.standard_normal(self.shape)
        return np.sqrt(1.0 - self.white_share) * self._error + np.sqrt(self.white_share) * white

    def _observe_smap(self, day: int, truth: np.ndarray, frozen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, OBS, day + 100000])
        err = self._dynamic_error(day, rng)
        am = self._covered(self.track_am, day) & (rng.random(self.shape) >= self.fail_prob)
        pm = self._covered(self.track_pm, day) & (rng.random(self.shape) >= self.fail_prob)
        sigma = self.smap_sigma * np.where(am, 1.0, 1.15)  # PM retrievals are noisier
        obs = np.clip(truth + self.smap_bias + sigma * err, 0.01, 0.75)
        rfi = smooth_noise(rng, self.shape, 2.0, self.shape[1] == 964) > 2.3
        rfi |= self.rfi_spot & (rng.random() < 0.5)
        missing = ~(am | pm) | frozen | rfi | ~self.land
        quality = ~self.dense_veg & (rng.random(self.shape) > 0.02)
        smap = np.where(missing, np.nan, obs).astype(np.float32)
        return smap, quality & ~missing

    def _model_rain(self, day: int, doy: int, rain: np.ndarray, z: np.ndarray) -> np.ndarray:
        """The land model's rain: storms correlated 0.7 with the truth's, the rest another realisation."""
        rng = np.random.default_rng([self.seed, RAIN, day + 100000, 3])
        z_own = smooth_noise(rng, self.shape, 3.0, self.shape[1] == 964)
        zm = 0.7 * z + np.sqrt(1.0 - 0.49) * z_own
        thr = ndtri(1.0 - self._wet_probability(doy))
        return np.maximum(zm - thr, 0.0) * 12.0 * self._forcing_error(day)

    def _noah_bias(self, doy: int) -> np.ndarray:
        return self.noah_bias + self.noah_season_amp * self._season(doy)
