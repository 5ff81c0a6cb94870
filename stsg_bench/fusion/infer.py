"""DrcGAN inference: whole fields (padded to a multiple of 4), batches of days, streamed over any period
in chunks of ``infer_chunk_days`` with ``max_ref_age`` days of context on each side (exact, because
references older than that are ignored by construction), so memory does not grow with the period."""

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
from .config import DrcGanConfig
from .device_inputs import DeviceInputBuilder
from .inputs import InputBuilder, Normalizer
from .networks import ResnetGenerator

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
        cfg = DrcGanConfig(**state["config"])
        G = ResnetGenerator(int(state["in_ch"]), 1, cfg.ngf, cfg.n_blocks, cfg.norm)
        G.load_state_dict({k[2:]: v for k, v in state["nets"].items() if k.startswith("G.")})
        dev = torch.device(device)
        G = G.to(dev).eval()
        if dev.type == "cuda" and cfg.channels_last:
            G = G.to(memory_format=torch.channels_last)
        return cls(cfg, Normalizer(**state["norm"]), G, dev)

    def _autocast(self):
        if self.device.type == "cuda" and self.cfg.bf16:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    @torch.no_grad()
    def predict_tensor(self, x: torch.Tensor, noah: torch.Tensor) -> torch.Tensor:
        """x (B, C, H, W) channels, noah (B, H, W) physical, on the model's device -> SMAP_hat (B, H, W)."""
        if self.device.type == "cuda" and self.cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with self._autocast():
            r = self.G(x).float()[:, 0]
        return (noah + r * self.norm.smap_std).clamp(0.0, self.cfg.max_sm)

    def predict_batch(self, x: np.ndarray, noah: np.ndarray) -> np.ndarray:
        """x (B, C, H, W) channels, noah (B, H, W) physical -> SMAP_hat (B, H, W)."""
        xt, nt = torch.from_numpy(x).to(self.device), torch.from_numpy(noah).to(self.device)
        return self.predict_tensor(xt, nt).cpu().numpy()

    def builds_inputs_on_device(self) -> bool:
        """Whether inference inputs are built on the model's device (``device_inputs``)."""
        mode = self.cfg.device_inputs
        return mode == "always" or (mode == "auto" and self.device.type == "cuda")


def predict_case(model: FusionModel, case: xr.Dataset, period=None, progress: bool = False) -> np.ndarray:
    """SMAP_hat for every day of ``period`` (raw generator output, before SMAP pass-through)."""
    cfg = model.cfg
    out_times = select_period(case, period).indexes["time"]
    index = case.indexes["time"].get_indexer(out_times)
    Y, X = case.sizes["y"], case.sizes["x"]
    result = np.empty((len(index), Y, X), dtype=np.float32)
    ctx, step = cfg.max_ref_age, max(cfg.infer_chunk_days, 1)
    chunks = range(0, len(index), step)
    if progress:
        from tqdm.auto import tqdm

        chunks = tqdm(chunks, desc="DrcGAN inference", unit="chunk")
    for k0 in chunks:
        threads.refresh()
        k1 = min(k0 + step, len(index))
        lo, hi = int(index[k0]), int(index[k1 - 1]) + 1
        c0, c1 = max(lo - ctx, 0), min(hi + ctx, case.sizes["time"])
        sub = case.isel(time=slice(c0, c1))
        local = index[k0:k1] - c0
        if model.builds_inputs_on_device():
            dev = DeviceInputBuilder(sub, model.norm, cfg.two_sided, cfg.max_ref_age, model.device)
            for b0 in range(0, len(local), cfg.infer_batch):
                t = torch.as_tensor(local[b0 : b0 + cfg.infer_batch], device=model.device)
                pred_t = model.predict_tensor(dev.channels(t), dev.noah[t])
                result[k0 + b0 : k0 + b0 + len(t)] = pred_t[:, :Y, :X].cpu().numpy()
            continue
        builder = InputBuilder(sub, model.norm, cfg.two_sided, max_age=cfg.max_ref_age)
        for b0 in range(0, len(local), cfg.infer_batch):
            t = local[b0 : b0 + cfg.infer_batch]
            pred = model.predict_batch(builder.channels(t), builder.noah[t])
            result[k0 + b0 : k0 + b0 + len(t)] = pred[:, :Y, :X]
    return result
