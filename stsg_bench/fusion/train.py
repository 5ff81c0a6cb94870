"""DrcGAN training.

Per step, a batch of random land crops on random training days, drawn half from the case as it is and
half from a *thinned* view whose references were computed after hiding ``sim_gap_fraction`` of the
usable SMAP in swath- and block-shaped masks (so the model is supervised with the older references it
meets inside real gaps). Losses (G and F updated together, then both discriminators)::

    SMAP_hat  = clamp(Noah(t) + G(x) * sd_smap)                  forward generator, residual on Noah
    Noah_back = clamp(SMAP_hat + F([SMAP_hat, static]) * sd_noah) backward generator
    L_G = l_rec * L1(SMAP_hat, SMAP(t) | usable) + l_cyc * L1(Noah_back, Noah(t) | land)
        + l_rev * L1(G(F(SMAP~)), SMAP(t) | usable)   (reverse cycle; SMAP~ = SMAP, gaps from SMAP_hat)
        + l_adv * [LSGAN(D_S(SMAP_hat)) + LSGAN(D_N(F(SMAP~)))]

``D_S`` sees SMAP-domain fields masked to the target day's usable pixels (so real and fake share the
gap pattern); ``D_N`` sees Noah-domain fields on land. Deterministic on CPU for a given seed.
"""

from __future__ import annotations

import contextlib
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
from .config import DrcGanConfig
from .inputs import InputBuilder, Normalizer
from .networks import PatchDiscriminator, ResnetGenerator, lsgan_loss, masked_l1

log = logging.getLogger(__name__)


def thin_validity(valid: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Hide about ``fraction`` of ``valid``: each day loses either a tilted swath-like stripe or a few
    square blocks, sized so that the expected hidden share is ``fraction``."""
    T, Y, X = valid.shape
    yy, xx = np.mgrid[0:Y, 0:X]
    hidden = np.zeros_like(valid)
    for t in range(T):
        share = min(2.0 * fraction * rng.random(), 0.95)
        if rng.random() < 0.5:
            phase, slope = rng.integers(0, X), rng.uniform(-0.5, 0.5)
            hidden[t] = ((xx + slope * yy - phase) % X) < share * X
        else:
            b = int(rng.integers(4, 17))
            for _ in range(int(round(share * Y * X / b**2))):
                r, c = rng.integers(0, max(Y - b, 1)), rng.integers(0, max(X - b, 1))
                hidden[t, r : r + b, c : c + b] = True
    return valid & ~hidden


class Nets(torch.nn.Module):
    def __init__(self, cfg: DrcGanConfig, in_ch: int):
        super().__init__()
        self.G = ResnetGenerator(in_ch, 1, cfg.ngf, cfg.n_blocks, cfg.norm)
        self.F = ResnetGenerator(4, 1, cfg.ngf, cfg.n_blocks, cfg.norm)
        self.D_S = PatchDiscriminator(2, cfg.ndf, cfg.d_layers, cfg.norm)
        self.D_N = PatchDiscriminator(2, cfg.ndf, cfg.d_layers, cfg.norm)


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)


class Trainer:
    """Holds networks, optimisers, data views and RNG state; ``state_dict`` makes runs resumable."""

    def __init__(self, cfg: DrcGanConfig, case: xr.Dataset, train_period=None, device: str = "cpu"):
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise MethodError("drcgan: device 'cuda' requested but no CUDA GPU is available")
        self.cfg = cfg
        self.device = torch.device(device)
        self.cuda = self.device.type == "cuda"
        train = select_period(case, train_period)
        if train.sizes["time"] < 2:
            raise MethodError("drcgan: the training period needs at least two days")
        seed_everything(cfg.seed)
        self.rng = np.random.default_rng(cfg.seed)
        self.norm = Normalizer.fit(train)
        self.views = [InputBuilder(train, self.norm, cfg.two_sided, max_age=cfg.max_ref_age)]
        if cfg.sim_gap_fraction > 0:
            thinned = thin_validity(
                valid_smap(train).values, cfg.sim_gap_fraction, np.random.default_rng([cfg.seed, 1])
            )
            self.views.append(InputBuilder(train, self.norm, cfg.two_sided, valid=thinned, max_age=cfg.max_ref_age))
        v0 = self.views[0]
        self.in_ch = v0.n_channels
        self.nets = Nets(cfg, self.in_ch).to(self.device)
        if self.cuda and cfg.channels_last:
            self.nets = self.nets.to(memory_format=torch.channels_last)
        g_params = list(self.nets.G.parameters()) + list(self.nets.F.parameters())
        d_params = list(self.nets.D_S.parameters()) + list(self.nets.D_N.parameters())
        self.opt_g = torch.optim.Adam(g_params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
        self.opt_d = torch.optim.Adam(d_params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
        self.step = 0
        self.history: list[dict] = []
        Yp, Xp = v0.padded
        self.crop = max(4, min(cfg.crop, Yp, Xp) // 4 * 4)
        self.train_info: dict[str, Any] = {
            "train_start": str(train["time"].values[0])[:10],
            "train_end": str(train["time"].values[-1])[:10],
            "train_days": int(train.sizes["time"]),
        }
        self._step_fn = self._train_step
        if self.cuda and cfg.compile:
            self._step_fn = torch.compile(self._train_step)

    # -- data ------------------------------------------------------------------------------------
    def sample_batch(self) -> dict[str, torch.Tensor]:
        cfg, rng = self.cfg, self.rng
        B, h = cfg.batch_size, self.crop
        xs, tg, tv, nz = [], [], [], []
        for _ in range(B):
            view = self.views[rng.integers(0, len(self.views))]
            Yp, Xp = view.padded
            for _attempt in range(20):
                t = int(rng.integers(0, view.n_times))
                r, c = int(rng.integers(0, Yp - h + 1)), int(rng.integers(0, Xp - h + 1))
                if (
                    view.land[r : r + h, c : c + h].mean() >= cfg.min_land_fraction
                    and view.target_valid[t, r : r + h, c : c + h].any()
                ):
                    break
            xs.append(view.channels(np.array([t]), r, r + h, c, c + h)[0])
            tg.append(view.target[t, r : r + h, c : c + h])
            tv.append(view.target_valid[t, r : r + h, c : c + h])
            nz.append(view.noah[t, r : r + h, c : c + h])
        to = lambda a, dt=torch.float32: torch.from_numpy(np.stack(a)).to(self.device, dt)  # noqa: E731
        batch = {"x": to(xs), "smap": to(tg)[:, None], "valid": to(tv, torch.bool)[:, None], "noah": to(nz)[:, None]}
        if self.cuda and cfg.channels_last:
            batch["x"] = batch["x"].contiguous(memory_format=torch.channels_last)
        return batch

    # -- model pieces ----------------------------------------------------------------------------
    def _autocast(self):
        if self.cuda and self.cfg.bf16:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def forward_g(self, x: torch.Tensor, noah: torch.Tensor) -> torch.Tensor:
        r = self.nets.G(x).float()
        return (noah + r * self.norm.smap_std).clamp(0.0, self.cfg.max_sm)

    def forward_f(self, smap: torch.Tensor, static: torch.Tensor) -> torch.Tensor:
        s_n = (smap - self.norm.smap_mean) / self.norm.smap_std
        r = self.nets.F(torch.cat([s_n, static], 1)).float()
        return (smap + r * self.norm.noah_std).clamp(0.0, self.cfg.max_sm)

    def _train_step(self, b: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        cfg, nets, norm = self.cfg, self.nets, self.norm
        x, smap, valid, noah = b["x"], b["smap"], b["valid"], b["noah"]
        static = x[:, -3:]
        land = static[:, :1] > 0.5
        vf = valid.float()
        with self._autocast():
            smap_hat = self.forward_g(x, noah)
            noah_back = self.forward_f(smap_hat, static)
            s_tilde = torch.where(valid, smap, smap_hat.detach())
            noah_fake = self.forward_f(s_tilde, static)
            x_rev = torch.cat([torch.where(land, (noah_fake - norm.noah_mean) / norm.noah_std, 0.0), x[:, 1:]], 1)
            smap_rec = self.forward_g(x_rev, noah_fake)
            sn = lambda s: (s - norm.smap_mean) / norm.smap_std * vf  # noqa: E731
            nn_ = lambda n: torch.where(land, (n - norm.noah_mean) / norm.noah_std, 0.0)  # noqa: E731
            l_rec = masked_l1(smap_hat, smap, valid)
            l_cyc = masked_l1(noah_back, noah, land)
            l_rev = masked_l1(smap_rec, smap, valid)
            l_adv = lsgan_loss(nets.D_S(torch.cat([sn(smap_hat), vf], 1)), True) + lsgan_loss(
                nets.D_N(torch.cat([nn_(noah_fake), land.float()], 1)), True
            )
            loss_g = cfg.lambda_rec * l_rec + cfg.lambda_cyc * l_cyc + cfg.lambda_rev * l_rev + cfg.lambda_adv * l_adv
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        with self._autocast():
            d_s = 0.5 * (
                lsgan_loss(nets.D_S(torch.cat([sn(smap), vf], 1)), True)
                + lsgan_loss(nets.D_S(torch.cat([sn(smap_hat.detach()), vf], 1)), False)
            )
            d_n = 0.5 * (
                lsgan_loss(nets.D_N(torch.cat([nn_(noah), land.float()], 1)), True)
                + lsgan_loss(nets.D_N(torch.cat([nn_(noah_fake.detach()), land.float()], 1)), False)
            )
            loss_d = d_s + d_n
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
        losses = {k: float(v) for k, v in self._step_fn(self.sample_batch()).items()}
        self.step += 1
        self.history.append({"step": self.step, **losses})
        return losses

    def fit(self, steps: int | None = None, progress: bool = False) -> Trainer:
        steps = self.cfg.steps - self.step if steps is None else steps
        it = range(steps)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(it, desc="DrcGAN training", unit="step")
            it = bar
        t0 = time.perf_counter()
        for _ in it:
            threads.refresh()  # follow the thread policy as the machine's load changes
            losses = self.train_step()
            if bar is not None:
                bar.set_postfix(
                    rec=f"{losses['rec']:.4f}",
                    cyc=f"{losses['cyc']:.4f}",
                    adv=f"{losses['adv']:.3f}",
                    d=f"{losses['d']:.3f}",
                )
        self.train_info["train_seconds"] = self.train_info.get("train_seconds", 0.0) + time.perf_counter() - t0
        return self

    # -- state -----------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "config": asdict(self.cfg),
            "norm": self.norm.to_dict(),
            "in_ch": self.in_ch,
            "nets": {k: v for k, v in self.nets.state_dict().items()},
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
        self.step = int(state["step"])
        torch.set_rng_state(state["torch_rng"])
        self.rng.bit_generator.state = state["numpy_rng"]
        self.history = list(state.get("history", []))
        self.train_info.update(state.get("train_info", {}))
