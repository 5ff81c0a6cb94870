"""The training data of DrcGAN: views of the training period and the crops a batch is drawn from.

Three views of the training days (:class:`TrainingViews`; the reasons are in :mod:`stsg_bench.fusion.train`):
the case as it is; a *thinned* view whose references were computed after hiding ``sim_gap_fraction`` of
the usable SMAP (:func:`stsg_bench.gaps.thin_validity`); a *persistent* view in which square blocks of
the land are hidden on every day (:func:`stsg_bench.gaps.persistent_blocks`). :meth:`TrainingViews.sample`
draws a batch of land crops from them, each with its hole (what the input hides, which the
discriminator of filled holes judges).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..case import valid_smap
from ..gaps import hidden_day, persistent_blocks, thin_validity
from . import symmetry
from .config import DrcGanConfig
from .inputs import InputBuilder, Normalizer, cell_offset


class TrainingViews:
    """The views of the training period (``views``), the cells the persistent view never shows
    (``persistent``) and, with ``same_day``, the real gap shapes of the training days (``gap_shapes``).
    The masks come from generators seeded by ``cfg.seed``, so a seed fixes them."""

    def __init__(self, train: xr.Dataset, norm: Normalizer, cfg: DrcGanConfig):
        self.cfg = cfg
        valid = valid_smap(train).values
        land = train["land"].values

        def view(usable: np.ndarray | None = None, offset=cfg.views.climatology) -> InputBuilder:
            return InputBuilder(
                train,
                norm,
                cfg.views.two_sided,
                valid=usable,
                max_age=cfg.views.max_ref_age,
                same_day=cfg.views.same_day,
                offset=offset,
            )

        self.views = [view()]
        if cfg.views.sim_gap_fraction > 0:
            self.views.append(
                view(thin_validity(valid, cfg.views.sim_gap_fraction, np.random.default_rng([cfg.seed, 1])))
            )
        # cells the 'persistent' view never shows (no reference at all: the regime inside long gaps)
        self.persistent = np.zeros(land.shape, dtype=bool)
        if cfg.views.persistent_gap_fraction > 0:
            rng4 = np.random.default_rng([cfg.seed, 4])
            self.persistent = persistent_blocks(land, cfg.views.persistent_gap_fraction, rng4)
            offset: bool | tuple = cfg.views.climatology
            if cfg.views.climatology:  # these blocks are seasonal gaps: the cells keep the offset of their
                # usable days; further blocks are never observed (dense vegetation): no offset either
                never = persistent_blocks(land, cfg.views.persistent_gap_fraction / 2, rng4)
                offset = cell_offset(train["smap"].values, train["noah"].values, valid & ~never[None])
                self.persistent |= never
            self.views.append(view(valid & ~self.persistent[None], offset))
        # same_day: real gap shapes (swaths, flagged patches) of the training days, holes for other days
        self.gap_shapes = ~self.views[0].target_valid if cfg.views.same_day else None

    def sample(self, rng: np.random.Generator, target_days: np.ndarray, crop: int) -> dict[str, np.ndarray]:
        """``cfg.optimiser.batch_size`` crops of ``crop`` x ``crop`` cells on random ``target_days``, each from a random
        view, with enough land and at least one usable target pixel (20 tries): stacked inputs ``x``,
        target ``smap``, its usable mask ``valid``, ``noah`` and the ``hole`` mask."""
        cfg, h = self.cfg, crop
        xs, tg, tv, nz, holes = [], [], [], [], []
        for _ in range(cfg.optimiser.batch_size):
            view = self.views[rng.integers(0, len(self.views))]
            Yp, Xp = view.padded
            for _attempt in range(20):
                t = int(target_days[rng.integers(0, len(target_days))])
                r, c = int(rng.integers(0, Yp - h + 1)), int(rng.integers(0, Xp - h + 1))
                if (
                    view.land[r : r + h, c : c + h].mean() >= cfg.views.min_land_fraction
                    and view.target_valid[t, r : r + h, c : c + h].any()
                ):
                    break
            tv.append(view.target_valid[t, r : r + h, c : c + h])
            if view.obs_valid is not None and self.gap_shapes is not None:  # the hole: what the input hides
                shape = self.gap_shapes[rng.integers(0, len(self.gap_shapes)), r : r + h, c : c + h]
                xs.append(view.channels(np.array([t]), r, r + h, c, c + h, hide=shape[None])[0])
                holes.append(tv[-1] & ~(view.obs_valid[t, r : r + h, c : c + h] & ~shape))
            else:
                xs.append(view.channels(np.array([t]), r, r + h, c, c + h)[0])
                holes.append(hidden_day((h, h), max(cfg.views.sim_gap_fraction, 0.1), rng) & tv[-1])
            tg.append(view.target[t, r : r + h, c : c + h])
            nz.append(view.noah[t, r : r + h, c : c + h])
        batch = {"x": xs, "smap": tg, "valid": tv, "noah": nz, "hole": holes}
        if cfg.views.flips:  # one random symmetry of the square per crop, the same for all its arrays
            for i, k in enumerate(rng.integers(0, 8, size=len(xs))):
                for arrays in batch.values():
                    arrays[i] = symmetry.apply(arrays[i], int(k))
        return {key: np.stack(arrays) for key, arrays in batch.items()}
