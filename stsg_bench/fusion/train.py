"""DrcGAN training: losses, a validation split carved from the training period, model selection.

**Batches.** Per step, random land crops on random *training* days, drawn in equal shares from three
views of the training period: the case as it is; a *thinned* view whose references were computed after
hiding ``sim_gap_fraction`` of the usable SMAP in swath- and block-shaped masks (so the model is
supervised with the older references it meets inside real gaps); and a *persistent* view in which
square blocks covering ``persistent_gap_fraction`` of the land are hidden on every day, so their cells
have no reference at all — the regime of the long gaps (dense vegetation, frozen seasons; 15-26 % of
the gap cell-days on the twins and on Hawai'i are > 60 days from an observation), which the other views
never show and where the generator otherwise extrapolates (README, measured). A day's inputs never hold
that day's SMAP (references are strictly before or after it), so every supervised pixel is predicted as
a gap would be. With ``same_day`` the day's own usable SMAP *is* an input: each crop then hides a real
gap shape of another training day from that channel, and the L1 term supervises the hidden pixels (the
shown ones with ``visible_weight``).

**Losses** (G and F updated together, then both discriminators)::

    SMAP_hat  = clamp(Noah(t) + G(x) * sd_smap)                  forward generator, residual on Noah
    Noah_back = clamp(SMAP_hat + F([SMAP_hat, static]) * sd_noah) backward generator
    L_G = l_rec * L1(SMAP_hat, SMAP(t) | usable) + l_cyc * L1(Noah_back, Noah(t) | land)
        + l_rev * L1(G(F(SMAP~)), SMAP(t) | usable)   (reverse cycle; SMAP~ = SMAP, gaps from SMAP_hat)
        + l_adv * [LSGAN(D_S(fill)) + LSGAN(D_N(F(SMAP~)))]

**Why D_S judges filled holes.** A discriminator shown SMAP_hat masked to the usable pixels (the first
design) only ever judges pixels the L1 term already pins to SMAP, and the fields it compares differ
everywhere, so its verdict says little about gap filling. Here each crop gets a simulated hole (a swath
stripe or blocks, inside the day's usable pixels); the *fake* field is SMAP with the hole filled by
SMAP_hat, the *real* field is SMAP itself, and D_S sees the field, the usable mask and the hole mask.
Real and fake are identical outside the hole, so the only thing D_S can learn is what a filled hole
looks like next to the observations around it: its gradient reaches G exactly at (simulated) gap
pixels, pushing fills towards the texture and continuity of SMAP at their edges. Whether that helps
the gap RMSE is measured, not assumed (the ``drcgan_l1`` and ``drcgan_nocycle`` ablations; README).
Terms with a zero weight are not computed (``drcgan_l1`` trains G alone).

**L1 pre-training** (the ``drcgan_warm`` variant and the ablations' schedule; ``drcgan`` itself trains
every term from the first step, as CycleGAN). The first ``pretrain_fraction`` of the steps train G by the
L1 term alone; the cycle and adversarial terms join after that (the practice of SRGAN/ESRGAN: a
content-loss generator first, then adversarial fine-tuning); with ``select_after_pretrain`` model
selection ignores the L1-only checkpoints (without it, it kept them: measured, issue #32). A full step
costs 4-5x an L1 step on the CPU (F runs twice and G once more for the cycles, and both discriminators
step), so one CPU budget buys either ~560 full steps or 1,200 L1 + 300 full steps (white twin, full steps
only: gap RMSE 0.0266 / 0.0251 / 0.0241 at 300 / 600 / 1,500 steps).

**Protocol.** ``val_fraction`` of the training days, in runs of ``val_run_days``, are held out: never a
training target. Their inputs come from a view with simulated gaps hidden as space-time blocks (runs of
days), so validation pixels have the mix of reference ages real gaps have. Every ``val_every`` steps
(and at the last) the generator (its EMA when ``ema_decay`` > 0) predicts up to ``val_max_days`` held-out
days with the inference code itself (tiled), scored by RMSE against their usable SMAP; the weights with
the lowest validation RMSE are kept and used for inference (``patience`` > 0 stops early). The learning
rate is constant for ``lr_decay_start`` of the steps, then decays linearly towards 0 (as CycleGAN).

**Determinism.** For a given seed, torch build and thread count a CPU run is bitwise repeatable. The
thread policy (:mod:`stsg_bench.threads`) follows the machine's load, and torch's CPU kernels split
reductions by thread, so two runs under different loads differ (up to 5e-3 in the weights after 20 steps);
``deterministic = true`` pins one thread while training and predicting, which makes runs bitwise
repeatable on any load (slower on a multi-core machine).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import time
from dataclasses import asdict
from typing import Any

import numpy as np
import torch
import xarray as xr

from .. import threads
from ..case import select_period, valid_smap
from ..errors import MethodError
from ..gaps import hide_runs, validation_days
from ..progress import bar as progress_bar
from .config import DrcGanConfig
from .infer import FusionModel
from .inputs import InputBuilder, Normalizer, grid_origin
from .networks import PatchDiscriminator, ResnetGenerator, lsgan_loss, masked_l1, masked_rmse
from .views import TrainingViews

log = logging.getLogger(__name__)


class Validation:
    """Held-out days of the training period, their inputs (simulated gaps hidden) and their scorer."""

    def __init__(self, train: xr.Dataset, norm: Normalizer, cfg: DrcGanConfig, held: np.ndarray):
        valid = valid_smap(train).values
        rng = np.random.default_rng([cfg.seed, 2])
        hidden = hide_runs(valid, cfg.views.sim_gap_fraction, rng)
        days = np.flatnonzero(held)
        if len(days) > cfg.selection.val_max_days:
            days = days[np.unique(np.linspace(0, len(days) - 1, cfg.selection.val_max_days).round().astype(int))]
        self.days = days
        self.mask = valid[days] & train["land"].values[None]
        if cfg.views.same_day:  # the day's own SMAP is an input: score only what was hidden, in real gap shapes
            hidden[days] |= ~valid[rng.integers(0, len(valid), len(days))]
            self.mask &= hidden[days]
        self.builder = InputBuilder(
            train,
            norm,
            cfg.views.two_sided,
            valid=valid & ~hidden,
            max_age=cfg.views.max_ref_age,
            same_day=cfg.views.same_day,
            offset=cfg.views.climatology,
        )
        self.target = train["smap"].values[days]
        self.origin = grid_origin(train)

    def rmse(self, model: FusionModel) -> float:
        """RMSE (m3 m-3) of the model's prediction against usable SMAP on the validation days."""
        pred = model.predict_days(self.builder, self.days, self.origin)
        err = (pred - self.target)[self.mask]
        return float(np.sqrt(np.mean(err.astype(np.float64) ** 2))) if err.size else float("nan")


class Nets(torch.nn.Module):
    def __init__(self, cfg: DrcGanConfig, in_ch: int):
        super().__init__()
        n = cfg.networks
        self.G = ResnetGenerator(in_ch, 1, n.ngf, n.n_blocks, n.norm)
        self.F = ResnetGenerator(4, 1, n.ngf, n.n_blocks, n.norm)
        self.D_S = PatchDiscriminator(3, n.ndf, n.d_layers, n.norm)  # field, usable mask, hole mask
        self.D_N = PatchDiscriminator(2, n.ndf, n.d_layers, n.norm)


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)


def plain(module: torch.nn.Module) -> torch.nn.Module:
    """The module itself, or the one a DDP wrapper holds."""
    return getattr(module, "module", module)


class Trainer:
    """Holds networks, optimisers, data views, validation and RNG state; ``state_dict`` makes runs
    resumable and carries the selected generator and both curves."""

    def __init__(self, cfg: DrcGanConfig, case: xr.Dataset, train_period=None, device: str = "cpu"):
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise MethodError("drcgan: device 'cuda' requested but no CUDA GPU is available")
        self.cfg = cfg
        self.device = torch.device(device)
        self.cuda = self.device.type == "cuda"
        if self.cuda and cfg.deterministic:
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
        train = select_period(case, train_period)
        if train.sizes["time"] < 2:
            raise MethodError("drcgan: the training period needs at least two days")
        seed_everything(cfg.seed)
        self.rng = np.random.default_rng(cfg.seed)
        self.norm = Normalizer.fit(train)
        held = validation_days(
            train.sizes["time"],
            cfg.selection.val_fraction,
            cfg.selection.val_run_days,
            np.random.default_rng([cfg.seed, 3]),
        )
        self.target_days = np.flatnonzero(~held)
        self.data = TrainingViews(train, self.norm, cfg)
        self.validation = Validation(train, self.norm, cfg, held) if held.any() else None
        v0 = self.data.views[0]
        self.in_ch = v0.n_channels
        self.nets = Nets(cfg, self.in_ch).to(self.device)
        if self.cuda and cfg.speed.channels_last:
            self.nets = self.nets.to(memory_format=torch.channels_last)
        self.use_f = cfg.losses.lambda_cyc > 0 or cfg.losses.lambda_rev > 0  # F only matters to G through the cycles
        self.use_adv = cfg.losses.lambda_adv > 0
        g_params = list(self.nets.G.parameters()) + list(self.nets.F.parameters())
        d_params = list(self.nets.D_S.parameters()) + list(self.nets.D_N.parameters())
        self.opt_g = torch.optim.Adam(g_params, lr=cfg.optimiser.lr, betas=(cfg.optimiser.beta1, cfg.optimiser.beta2))
        self.opt_d = torch.optim.Adam(d_params, lr=cfg.optimiser.lr, betas=(cfg.optimiser.beta1, cfg.optimiser.beta2))
        self.ema = copy.deepcopy(plain(self.nets.G)).eval() if cfg.optimiser.ema_decay > 0 else None
        self.step = 0
        self.history: list[dict] = []
        self.curve: list[dict] = []  # one record per validation: step, lr, mean training L1, validation RMSE
        self.selected: dict[str, Any] = {}  # step, val_rmse, G (the best weights); empty before validation
        self.stopped_early = False
        self._since_best = 0
        Yp, Xp = v0.padded
        self.crop = max(4, min(cfg.views.crop, Yp, Xp) // 4 * 4)
        # inference tiles default to the crop actually trained on (smaller than cfg.views.crop on small fields);
        # validation scores the generator alone (tta = 1): averaging symmetries there would multiply its cost
        self.infer_cfg = cfg.replace(infer_tile=cfg.inference.tile or self.crop, tta=1)
        self.train_info: dict[str, Any] = {
            "train_start": str(train["time"].values[0])[:10],
            "train_end": str(train["time"].values[-1])[:10],
            "train_days": int(len(self.target_days)),
            "val_days": int(held.sum()),
        }
        self._step_fn = self._train_step
        if self.cuda and cfg.speed.compile:
            self._step_fn = torch.compile(self._train_step)

    # -- data ------------------------------------------------------------------------------------
    @property
    def views(self) -> list:
        """The training views (:class:`~stsg_bench.fusion.views.TrainingViews`)."""
        return self.data.views

    @property
    def persistent(self) -> np.ndarray:
        """Cells the persistent view never shows."""
        return self.data.persistent

    def sample_batch(self) -> dict[str, torch.Tensor]:
        """One batch of crops (:meth:`TrainingViews.sample`) as tensors on the training device."""
        arrays = self.data.sample(self.rng, self.target_days, self.crop)
        to = lambda a, dt=torch.float32: torch.from_numpy(a).to(self.device, dt)  # noqa: E731
        batch = {
            "x": to(arrays["x"]),
            "smap": to(arrays["smap"])[:, None],
            "valid": to(arrays["valid"], torch.bool)[:, None],
            "noah": to(arrays["noah"])[:, None],
            "hole": to(arrays["hole"], torch.bool)[:, None],
        }
        if self.cuda and self.cfg.speed.channels_last:
            batch["x"] = batch["x"].contiguous(memory_format=torch.channels_last)
        return batch

    # -- model pieces ----------------------------------------------------------------------------
    def _autocast(self):
        if self.cuda and self.cfg.speed.bf16:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def forward_g(self, x: torch.Tensor, noah: torch.Tensor) -> torch.Tensor:
        r = self.nets.G(x).float()
        return (noah + r * self.norm.smap_std).clamp(0.0, self.cfg.networks.max_sm)

    def forward_f(self, smap: torch.Tensor, static: torch.Tensor) -> torch.Tensor:
        s_n = (smap - self.norm.smap_mean) / self.norm.smap_std
        r = self.nets.F(torch.cat([s_n, static], 1)).float()
        return (smap + r * self.norm.noah_std).clamp(0.0, self.cfg.networks.max_sm)

    def lr_factor(self, step: int) -> float:
        """Learning-rate multiplier of (0-based) ``step``: 1, then linear decay after ``lr_decay_start``."""
        n = self.cfg.optimiser.steps
        k = int(self.cfg.optimiser.lr_decay_start * n)
        return 1.0 if step < k else max(0.0, 1.0 - (step - k) / (n - k + 1))

    def _ds_input(self, field: torch.Tensor, valid: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
        vf = valid.float()
        s = (field - self.norm.smap_mean) / self.norm.smap_std * vf
        return torch.cat([s, vf, hole.float()], 1)

    def in_pretraining(self, step: int) -> bool:
        """Whether (0-based) ``step`` trains G by L1 alone (the first ``pretrain_fraction`` of the steps)."""
        return step < int(round(self.cfg.optimiser.pretrain_fraction * self.cfg.optimiser.steps))

    def _train_step(self, b: dict[str, torch.Tensor], full: bool = True) -> dict[str, torch.Tensor]:
        cfg, nets, norm = self.cfg, self.nets, self.norm
        x, smap, valid, noah, hole = b["x"], b["smap"], b["valid"], b["noah"], b["hole"]
        static = x[:, -3:]
        land = static[:, :1] > 0.5
        nn_ = lambda n: torch.where(land, (n - norm.noah_mean) / norm.noah_std, 0.0)  # noqa: E731
        zero = torch.zeros((), device=x.device)
        l_cyc = l_rev = l_adv = loss_d = zero
        lazy = float(cfg.optimiser.gan_every)  # the lazy terms' weight factor where they run (1: every step)
        with self._autocast():
            smap_hat = self.forward_g(x, noah)
            rec = masked_rmse if cfg.losses.rec_loss == "rmse" else masked_l1
            if cfg.views.same_day:  # the hidden pixels, and (lightly) the ones the input shows
                l_rec = rec(smap_hat, smap, hole)
                if cfg.losses.visible_weight > 0:
                    l_rec = l_rec + cfg.losses.visible_weight * rec(smap_hat, smap, valid & ~hole)
            else:
                l_rec = rec(smap_hat, smap, valid)
            loss_g = cfg.losses.lambda_rec * l_rec
            if self.use_f and full:
                noah_back = self.forward_f(smap_hat, static)
                s_tilde = torch.where(valid, smap, smap_hat.detach())
                noah_fake = self.forward_f(s_tilde, static)
                x_rev = torch.cat([nn_(noah_fake), x[:, 1:]], 1)
                smap_rec = self.forward_g(x_rev, noah_fake)
                l_cyc = masked_l1(noah_back, noah, land)
                l_rev = masked_l1(smap_rec, smap, valid)
                loss_g = loss_g + lazy * cfg.losses.lambda_cyc * l_cyc + lazy * cfg.losses.lambda_rev * l_rev
            if self.use_adv and full:
                filled = torch.where(hole, smap_hat, smap)
                l_adv = lsgan_loss(nets.D_S(self._ds_input(filled, valid, hole)), True)
                if self.use_f:
                    l_adv = l_adv + lsgan_loss(nets.D_N(torch.cat([nn_(noah_fake), land.float()], 1)), True)
                loss_g = loss_g + lazy * cfg.losses.lambda_adv * l_adv
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        if self.use_adv and full:
            with self._autocast():
                loss_d = 0.5 * (
                    lsgan_loss(nets.D_S(self._ds_input(smap, valid, hole)), True)
                    + lsgan_loss(nets.D_S(self._ds_input(filled.detach(), valid, hole)), False)
                )
                if self.use_f:
                    loss_d = loss_d + 0.5 * (
                        lsgan_loss(nets.D_N(torch.cat([nn_(noah), land.float()], 1)), True)
                        + lsgan_loss(nets.D_N(torch.cat([nn_(noah_fake.detach()), land.float()], 1)), False)
                    )
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()
        return {
            "rec": l_rec.detach(),
            "cyc": l_cyc.detach(),
            "rev": l_rev.detach(),
            "adv": l_adv.detach(),
            "d": loss_d.detach(),
        }

    def train_step(self) -> dict[str, float]:
        self.nets.train()
        lr = self.cfg.optimiser.lr * self.lr_factor(self.step)
        for opt in (self.opt_g, self.opt_d):
            for group in opt.param_groups:
                group["lr"] = lr
        full = not self.in_pretraining(self.step) and self.step % self.cfg.optimiser.gan_every == 0
        losses = {k: float(v) for k, v in self._step_fn(self.sample_batch(), full).items()}
        if self.ema is not None:
            with torch.no_grad():
                for e, p in zip(self.ema.parameters(), plain(self.nets.G).parameters(), strict=True):
                    e.lerp_(p, 1.0 - self.cfg.optimiser.ema_decay)
        self.step += 1
        self.history.append({"step": self.step, "lr": lr, **losses})
        return losses

    # -- validation and selection ----------------------------------------------------------------
    def eval_generator(self) -> torch.nn.Module:
        """The generator inference would use now: the EMA when there is one, else the live weights."""
        return self.ema if self.ema is not None else plain(self.nets.G)

    def validate(self) -> float:
        """Score the current generator on the validation days; keep it if it is the best so far."""
        if self.validation is None:
            raise MethodError("drcgan: no validation days (val_fraction = 0)")
        G = self.eval_generator()
        was_training = G.training
        G.eval()
        val = self.validation.rmse(FusionModel(self.infer_cfg, self.norm, G, self.device))
        G.train(was_training)
        recent = [h["rec"] for h in self.history[-self.cfg.selection.val_every :]]
        self.curve.append(
            {
                "step": self.step,
                "lr": self.cfg.optimiser.lr * self.lr_factor(max(self.step - 1, 0)),
                "train_l1": float(np.mean(recent)) if recent else float("nan"),
                "val_rmse": val,
            }
        )
        if self.cfg.selection.select_after_pretrain and self.in_pretraining(self.step - 1):
            return val  # an L1-only checkpoint: on the curve, never selected
        if not self.selected or val < self.selected["val_rmse"]:
            state = {k: v.detach().clone() for k, v in G.state_dict().items()}
            self.selected = {"step": self.step, "val_rmse": val, "G": state}
            self._since_best = 0
        else:
            self._since_best += 1
        return val

    def fit(self, steps: int | None = None, progress: bool = False) -> Trainer:
        steps = self.cfg.optimiser.steps - self.step if steps is None else steps
        with threads.pinned(1) if self.cfg.deterministic else contextlib.nullcontext():
            self._fit(steps, progress)
        return self

    def _fit(self, steps: int, progress: bool) -> None:
        cfg = self.cfg
        it = progress_bar(range(steps), desc="DrcGAN training", unit="step") if progress else range(steps)
        bar = it if hasattr(it, "set_postfix") else None
        t0 = time.perf_counter()
        last = self.step + steps
        for _ in it:
            threads.refresh()  # follow the thread policy as the machine's load changes
            losses = self.train_step()
            if self.validation is not None and (self.step % cfg.selection.val_every == 0 or self.step == last):
                self.validate()
                if cfg.selection.patience and self._since_best >= cfg.selection.patience:
                    self.stopped_early = True
                    log.info("drcgan: early stop at step %d (best %d)", self.step, self.selected["step"])
                    break
            if bar is not None:
                post = {"rec": f"{losses['rec']:.4f}", "adv": f"{losses['adv']:.3f}", "d": f"{losses['d']:.3f}"}
                if self.curve:
                    post["val"] = f"{self.curve[-1]['val_rmse']:.4f}"
                bar.set_postfix(**post)
        self.train_info["train_seconds"] = self.train_info.get("train_seconds", 0.0) + time.perf_counter() - t0
        if self.selected:
            self.train_info.update(
                selected_step=self.selected["step"],
                selected_val_rmse=round(self.selected["val_rmse"], 6),
                stopped_early=int(self.stopped_early),
            )

    # -- state -----------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "config": asdict(self.cfg),
            "norm": self.norm.to_dict(),
            "in_ch": self.in_ch,
            "train_crop": self.crop,
            "nets": {k: v for k, v in self.nets.state_dict().items()},
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "selected": self.selected,
            "curve": list(self.curve),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "step": self.step,
            "torch_rng": torch.get_rng_state(),
            "numpy_rng": self.rng.bit_generator.state,
            "history": self.history[-1000:],
            "train_info": dict(self.train_info),
        }

    def load_state_dict(self, state: dict) -> None:
        self.nets.load_state_dict(state["nets"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        if self.ema is not None and state.get("ema") is not None:
            self.ema.load_state_dict(state["ema"])
        self.selected = state.get("selected") or {}
        self.curve = list(state.get("curve", []))
        self.step = int(state["step"])
        torch.set_rng_state(state["torch_rng"])
        self.rng.bit_generator.state = state["numpy_rng"]
        self.history = list(state.get("history", []))
        self.train_info.update(state.get("train_info", {}))
