"""Shared helpers: size tiers, device parameter and synthetic inputs built without the twin (fast setup)."""

import numpy as np
import torch

TIERS = {"tiny": (32, 32), "regional": (128, 128), "global": (406, 964)}
DEVICES = ["cpu", "cuda"]


def require(device: str) -> torch.device:
    """asv skips a parameter combination when setup raises NotImplementedError."""
    if device == "cuda" and not torch.cuda.is_available():
        raise NotImplementedError("no CUDA GPU")
    return torch.device(device)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def fields(shape, days: int, seed: int = 0):
    """Smooth-ish synthetic SMAP/Noah/validity arrays (T, Y, X) with ~50 % SMAP coverage on land."""
    rng = np.random.default_rng(seed)
    Y, X = shape
    yy, xx = np.mgrid[0:Y, 0:X]
    base = 0.25 + 0.08 * np.sin(yy / 17.0) * np.cos(xx / 23.0)
    t = np.arange(days)[:, None, None]
    truth = (base + 0.05 * np.sin(2 * np.pi * t / 365.0 + xx / 50.0)).astype(np.float32)
    noah = (truth + 0.04 + 0.02 * rng.standard_normal((days, Y, X))).astype(np.float32)
    smap = (truth + 0.03 * rng.standard_normal((days, Y, X))).astype(np.float32)
    land = (np.sin(yy / 40.0) + np.cos(xx / 55.0)) > -0.6
    valid = (rng.random((days, Y, X)) < 0.5) & land
    smap[~valid] = np.nan
    noah[:, ~land] = np.nan
    return smap, noah, valid, land
