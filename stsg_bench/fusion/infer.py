"""DrcGAN inference: batches of days, each field predicted in grid-anchored tiles (:mod:`.tiling`, so a
cell's value does not depend on the extent of the domain), streamed over any period in chunks of
``infer_chunk_days`` with ``max_ref_age`` days of context on each side (exact, because references older
than that are ignored by construction), so memory does not grow with the period.

The generator used is the *selected* one when the checkpoint holds a model selection (the weights with
the best validation score, see :mod:`.train`), else the last weights."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

import numpy as np
import torch
import xarray as xr

from .. import threads
from ..case import select_period
from ..errors import MethodError
from ..progress import bar
from . import symmetry
from .config import DrcGanConfig, from_record
from .device_inputs import DeviceInputBuilder
from .inputs import InputBuilder, Normalizer, case_offset, grid_origin, ocean_fill, pad4
from .networks import ResnetGenerator
from .tiling import tiled_apply

log = logging.getLogger(__name__)


@dataclass
class FusionModel:
    """What inference needs: the forward generator, its config and the normalisation."""

    cfg: DrcGanConfig
    norm: Normalizer
    G: ResnetGenerator
    device: torch.device

    @classmethod
    def from_state(cls, state: dict, device: str = "cpu") -> FusionModel:
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise MethodError("drcgan: device 'cuda' requested but no CUDA GPU is available")
        cfg = from_record(state["config"], {"same_day": False, "climatology": False})  # older files: flat, fewer keys
        if not cfg.inference.tile and state.get("train_crop"):  # tiles of the crop size actually trained on
            cfg = cfg.replace(infer_tile=int(state["train_crop"]))
        G = ResnetGenerator(int(state["in_ch"]), 1, cfg.networks.ngf, cfg.networks.n_blocks, cfg.networks.norm)
        selected = state.get("selected") or {}
        weights = selected.get("G") or {k[2:]: v for k, v in state["nets"].items() if k.startswith("G.")}
        G.load_state_dict(weights)
        dev = torch.device(device)
        G = G.to(dev).eval()
        if dev.type == "cuda" and cfg.speed.channels_last:
            G = G.to(memory_format=torch.channels_last)
        return cls(cfg, Normalizer(**state["norm"]), G, dev)

    def _autocast(self):
        if self.device.type == "cuda" and self.cfg.speed.bf16:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _generator(self, x: torch.Tensor) -> torch.Tensor:
        """G on ``x``, averaged over ``inference.tta`` symmetries of the square (:mod:`.symmetry`)."""
        n = self.cfg.inference.tta
        out = self._generator_once(x)
        for k in range(1, n):
            out = out + symmetry.invert(self._generator_once(symmetry.apply(x, k)).float(), k)
        return out / n if n > 1 else out

    def _generator_once(self, x: torch.Tensor) -> torch.Tensor:
        if self.device.type == "cuda" and self.cfg.speed.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with self._autocast():
            return self.G(x)

    @torch.no_grad()
    def predict_tensor(self, x: torch.Tensor, noah: torch.Tensor, origin: tuple[int, int] = (0, 0)) -> torch.Tensor:
        """x (B, C, H, W) channels, noah (B, H, W) physical, on the model's device, of a field whose first
        cell is at grid ``origin`` (row, col) -> SMAP_hat (B, H, W)."""
        if self.cfg.inference.tiled:
            fill = ocean_fill(x, 2 if self.cfg.views.two_sided else 1)
            r = tiled_apply(self._generator, x, fill, origin, self.cfg.tile, self.cfg.inference.batch * 4)
        else:  # the whole field at once (padded to a multiple of 4): a cell's value depends on the extent
            H, W = x.shape[-2:]
            padded = torch.nn.functional.pad(x, (0, pad4(W) - W, 0, pad4(H) - H))
            r = self._generator(padded)[:, 0, :H, :W].float()
        return (noah + r * self.norm.smap_std).clamp(0.0, self.cfg.networks.max_sm)

    def predict_batch(self, x: np.ndarray, noah: np.ndarray, origin: tuple[int, int] = (0, 0)) -> np.ndarray:
        """x (B, C, H, W) channels, noah (B, H, W) physical -> SMAP_hat (B, H, W)."""
        xt, nt = torch.from_numpy(x).to(self.device), torch.from_numpy(noah).to(self.device)
        return self.predict_tensor(xt, nt, origin).cpu().numpy()

    def predict_days(self, builder: InputBuilder, days: np.ndarray, origin: tuple[int, int]) -> np.ndarray:
        """SMAP_hat (D, Y, X) for time indices ``days`` of a host input builder."""
        Y, X = builder.shape
        out = np.empty((len(days), Y, X), dtype=np.float32)
        for b0 in range(0, len(days), self.cfg.inference.batch):
            t = days[b0 : b0 + self.cfg.inference.batch]
            x = np.ascontiguousarray(builder.channels(t)[:, :, :Y, :X])
            out[b0 : b0 + len(t)] = self.predict_batch(x, builder.noah[t, :Y, :X], origin)
        return out

    def builds_inputs_on_device(self) -> bool:
        """Whether inference inputs are built on the model's device (``device_inputs``)."""
        mode = self.cfg.inference.device_inputs
        return mode == "always" or (mode == "auto" and self.device.type == "cuda")


def predict_case(model: FusionModel, case: xr.Dataset, period=None, progress: bool = False) -> np.ndarray:
    """SMAP_hat for every day of ``period`` (raw generator output, before SMAP pass-through); on one
    pinned thread when the config is ``deterministic``."""
    with threads.pinned(1) if model.cfg.deterministic else contextlib.nullcontext():
        return _predict_case(model, case, period, progress)


def _predict_case(model: FusionModel, case: xr.Dataset, period, progress: bool) -> np.ndarray:
    cfg = model.cfg
    out_times = select_period(case, period).indexes["time"]
    index = case.indexes["time"].get_indexer(out_times)
    Y, X = case.sizes["y"], case.sizes["x"]
    origin = grid_origin(case)
    result = np.empty((len(index), Y, X), dtype=np.float32)
    ctx, step = cfg.views.max_ref_age, max(cfg.inference.chunk_days, 1)
    # the per-cell offset comes from every usable SMAP value of the case, not the chunk's
    offset = case_offset(case, step) if cfg.views.climatology else False
    chunks = range(0, len(index), step)
    if progress:
        chunks = bar(chunks, desc="DrcGAN inference", unit="chunk")
    for k0 in chunks:
        threads.refresh()
        k1 = min(k0 + step, len(index))
        lo, hi = int(index[k0]), int(index[k1 - 1]) + 1
        c0, c1 = max(lo - ctx, 0), min(hi + ctx, case.sizes["time"])
        sub = case.isel(time=slice(c0, c1))
        local = index[k0:k1] - c0
        if model.builds_inputs_on_device():
            dev = DeviceInputBuilder(
                sub, model.norm, cfg.views.two_sided, cfg.views.max_ref_age, model.device, cfg.views.same_day, offset
            )
            for b0 in range(0, len(local), cfg.inference.batch):
                t = torch.as_tensor(local[b0 : b0 + cfg.inference.batch], device=model.device)
                pred_t = model.predict_tensor(dev.channels(t)[:, :, :Y, :X], dev.noah[t, :Y, :X], origin)
                result[k0 + b0 : k0 + b0 + len(t)] = pred_t.cpu().numpy()
            continue
        builder = InputBuilder(
            sub,
            model.norm,
            cfg.views.two_sided,
            max_age=cfg.views.max_ref_age,
            same_day=cfg.views.same_day,
            offset=offset,
        )
        result[k0:k1] = model.predict_days(builder, local, origin)
    return result
