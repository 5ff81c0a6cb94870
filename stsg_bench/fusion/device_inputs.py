"""DrcGAN inference inputs built on the model's device (torch), for streaming on a GPU.

:class:`~stsg_bench.fusion.inputs.InputBuilder` builds the reference composites and channel stacks in
numpy on the host; on a GPU that host work, not the generator, bounds the streaming rate. This builder
takes a chunk's raw fields to the device once (from pinned memory, without blocking) and does the rest
there: the last/next usable day per pixel is a running maximum/minimum of day indices
(``torch.cummax``/``cummin``, the same scan as :mod:`stsg_bench.composites`), gathered with
``torch.gather``; channels are cut per batch without leaving the device. It gives the numpy builder's
channels (tested to 1e-6 on the CPU) and is used by :func:`~stsg_bench.fusion.infer.predict_case` when
``DrcGanConfig.device_inputs`` says so (default ``auto``: on CUDA).
"""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr

from ..case import valid_smap
from .inputs import AGE_SCALE, Normalizer, case_offset, n_channels, offset_channels, pad4


def _to_device(a: np.ndarray, device: torch.device) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(a))
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t


def reference_indices(valid: torch.Tensor, forward: bool) -> torch.Tensor:
    """(T, Y, X) index of the last usable day strictly before each day (``forward`` False) or the first
    strictly after it (True); -1 where there is none."""
    T = valid.shape[0]
    days = torch.arange(T, device=valid.device, dtype=torch.int32).view(-1, 1, 1)
    if not forward:
        idx = torch.where(valid, days, torch.tensor(-1, dtype=torch.int32, device=valid.device))
        last = torch.cummax(idx, dim=0).values  # last usable index <= t
        ref = torch.full_like(last, -1)
        ref[1:] = last[:-1]
        return ref
    idx = torch.where(valid, days, torch.tensor(T, dtype=torch.int32, device=valid.device))
    first = torch.flip(torch.cummin(torch.flip(idx, (0,)), dim=0).values, (0,))  # first usable index >= t
    ref = torch.full_like(first, T)
    ref[:-1] = first[1:]
    return torch.where(ref < T, ref, torch.tensor(-1, dtype=torch.int32, device=valid.device))


class DeviceInputBuilder:
    """The channels of :class:`~stsg_bench.fusion.inputs.InputBuilder` for whole (padded) fields, built
    on ``device``."""

    def __init__(
        self,
        case: xr.Dataset,
        norm: Normalizer,
        two_sided: bool,
        max_age: int,
        device: torch.device,
        same_day: bool = False,
        offset: bool | tuple[np.ndarray, np.ndarray] = False,
    ):
        T, Y, X = case["smap"].shape
        self.padded = (pad4(Y), pad4(X))
        py, px = self.padded[0] - Y, self.padded[1] - X
        self.device = device
        self.norm = norm
        v = _to_device(valid_smap(case).values, device)
        smap = _to_device(case["smap"].values.astype(np.float32), device)
        noah = _to_device(case["noah"].values.astype(np.float32), device)
        land = _to_device(case["land"].values.astype(bool), device)

        def pad(a: torch.Tensor, value: float) -> torch.Tensor:
            return torch.nn.functional.pad(a, (0, px, 0, py), value=value)

        self.land = pad(land.float(), 0.0) > 0
        self.noah = pad(torch.nan_to_num(noah), 0.0)
        nan = torch.tensor(float("nan"), device=device)
        self.refs: list[tuple[torch.Tensor, ...]] = []
        days = torch.arange(T, device=device, dtype=torch.float32).view(-1, 1, 1)
        for forward in (False, True) if two_sided else (False,):
            ref = reference_indices(v, forward)
            age = (days - ref.float()).abs()
            ok = (ref >= 0) & (age <= max_age)
            safe = ref.clamp(min=0).long()
            r_smap = torch.where(ok, torch.gather(smap, 0, safe), nan)
            r_noah = torch.gather(noah, 0, safe)
            ok = ok & torch.isfinite(r_smap)
            zero = torch.zeros((), device=device)
            self.refs.append(
                (
                    pad(torch.where(ok, (r_smap - norm.smap_mean) / norm.smap_std, zero), 0.0),
                    pad(torch.where(ok, (r_noah - norm.noah_mean) / norm.noah_std, zero), 0.0),
                    pad(torch.where(ok, age / AGE_SCALE, torch.ones((), device=device)), 1.0),
                    pad(ok.float(), 0.0),
                )
            )
        self.obs: tuple[torch.Tensor, torch.Tensor] | None = None
        if same_day:  # the day's own usable SMAP (normalised, 0 in gaps) and its validity
            norm_smap = torch.where(v, (torch.nan_to_num(smap) - norm.smap_mean) / norm.smap_std, 0.0)
            self.obs = (pad(norm_smap, 0.0), pad(v.float(), 0.0))
        self.offset: tuple[torch.Tensor, torch.Tensor] | None = None
        if offset is not False:  # per-cell offset (host: one (Y, X) mean)
            if offset is True:
                offset = case_offset(case)
            value, own = offset_channels(offset, norm.smap_std)
            self.offset = (pad(_to_device(value, device), 0.0), pad(_to_device(own, device), 0.0))
        doy = torch.from_numpy(case["time"].dt.dayofyear.values.astype(np.float64)).to(device)
        self.sin = torch.sin(2 * np.pi * doy / 365.25).float()
        self.cos = torch.cos(2 * np.pi * doy / 365.25).float()

    @property
    def n_channels(self) -> int:
        return n_channels(len(self.refs) == 2, self.obs is not None, self.offset is not None)

    def channels(self, t: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) float32 stack for the days ``t`` (an index tensor on the device)."""
        H, W = self.padded
        land = self.land.float()
        parts = [torch.where(self.land, (self.noah[t] - self.norm.noah_mean) / self.norm.noah_std, 0.0)[:, None]]
        for ref in self.refs:
            parts += [a[t][:, None] for a in ref]
        if self.obs is not None:
            parts += [a[t][:, None] for a in self.obs]
        if self.offset is not None:
            parts += [a.expand(len(t), 1, H, W) for a in self.offset]
        parts.append(land.expand(len(t), 1, H, W))
        parts.append(self.sin[t].view(-1, 1, 1, 1).expand(-1, 1, H, W))
        parts.append(self.cos[t].view(-1, 1, 1, 1).expand(-1, 1, H, W))
        return torch.cat(parts, dim=1)
