"""Baselines: STARFM-like day (torch vs a per-pixel numpy loop), CDF matching fit+predict, DCT-PLS."""

import numpy as np
import torch

from stsg_bench.methods.dctpls import smoothn
from stsg_bench.methods.scaling import DEFAULT_PERCENTILES, matlab_percentiles, piecewise_linear
from stsg_bench.methods.starfm import starfm_day, starfm_pixel_reference

from .common import DEVICES, TIERS, fields, require, sync


class StarfmDay:
    params = (DEVICES, ["tiny", "regional", "global"], [5, 7])
    param_names = ["device", "tier", "window"]
    timeout = 300

    def setup(self, device, tier, window):
        dev = require(device)
        smap, noah, valid, land = fields(TIERS[tier], 3)
        t = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(dev)  # noqa: E731
        self.dev = dev
        self.noah_t = t(noah[1])
        self.prev = (t(smap[0]), t(noah[0]), t(np.ones(TIERS[tier])))
        self.next = (t(smap[2]), t(noah[2]), t(np.ones(TIERS[tier])))
        self.window = window

    def time_starfm_day(self, device, tier, window):
        with torch.no_grad():
            starfm_day(self.noah_t, self.prev, self.next, window=self.window)
        sync(self.dev)


class StarfmNumpyLoop:
    """The straightforward per-pixel loop (one-sided) the torch version is compared with."""

    params = [["tiny", "regional"]]
    param_names = ["tier"]
    timeout = 600

    def setup(self, tier):
        smap, noah, valid, land = fields(TIERS[tier], 2)
        self.args = (noah[1].astype(float), smap[0].astype(float), noah[0].astype(float))

    def time_starfm_loop_one_side(self, tier):
        starfm_pixel_reference(*self.args, window=7)


class CdfMatching:
    """Per-pixel linear CDF matching fit + predict over land pixels x days."""

    params = [["tiny", "regional", "global"]]
    param_names = ["tier"]
    timeout = 600

    def setup(self, tier):
        days = 365
        smap, noah, valid, land = fields(TIERS[tier], days)
        self.noah = noah[:, land].astype(np.float64)
        self.smap = np.where(valid[:, land], smap[:, land], np.nan).astype(np.float64)
        del smap, noah

    def time_fit_predict(self, tier):
        matched = np.where(np.isfinite(self.smap), self.noah, np.nan)
        xp = matlab_percentiles(matched, DEFAULT_PERCENTILES)
        yp = matlab_percentiles(self.smap, DEFAULT_PERCENTILES)
        for t0 in range(0, self.noah.shape[0], 92):
            piecewise_linear(self.noah[t0 : t0 + 92], xp, yp)


class DctPls:
    params = [["tiny", "regional"]]
    param_names = ["tier"]
    timeout = 600

    def setup(self, tier):
        smap, noah, valid, land = fields(TIERS[tier], 64)
        self.y, self.w = smap, valid.astype(float)

    def time_dctpls_64_days(self, tier):
        smoothn(np.where(self.w > 0, self.y, np.nan), robust=False, max_iter=30)
