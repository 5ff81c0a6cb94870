"""Per-pixel reference composites: for each day t and pixel, the most recent usable SMAP value *before*
t (and the next one *after* t), the Noah value on that same day, and its age in days.

SMAP gaps move from day to day, so a single reference *image* (as in STARFM) would itself be full of
holes; the composite gives every pixel its own reference day. Both DrcGAN's input builder and the
STARFM-like baseline use it. ``age`` is +inf where no reference exists (then the values are NaN).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Composite:
    smap: np.ndarray  # (T, Y, X) reference SMAP, NaN where none
    noah: np.ndarray  # (T, Y, X) Noah on the reference day
    age: np.ndarray  # (T, Y, X) days between t and the reference day (inf where none)


def _gather(field: np.ndarray, idx: np.ndarray) -> np.ndarray:
    safe = np.clip(idx, 0, field.shape[0] - 1)
    out = np.take_along_axis(field, safe, axis=0)
    return np.where(idx >= 0, out, np.nan).astype(np.float32)


def previous_composite(smap: np.ndarray, noah: np.ndarray, valid: np.ndarray) -> Composite:
    """References strictly before each day."""
    T = smap.shape[0]
    t = np.arange(T, dtype=np.int32).reshape(-1, 1, 1)
    last_le = np.maximum.accumulate(np.where(valid, t, -1), axis=0)  # last valid index <= t
    prev = np.concatenate([np.full((1,) + smap.shape[1:], -1, np.int32), last_le[:-1]], axis=0)
    age = np.where(prev >= 0, t - prev, np.inf).astype(np.float32)
    return Composite(_gather(smap, prev), _gather(noah, prev), age)


def next_composite(smap: np.ndarray, noah: np.ndarray, valid: np.ndarray) -> Composite:
    """References strictly after each day (offline reprocessing can look forward, like STARFM)."""
    rev = previous_composite(smap[::-1], noah[::-1], valid[::-1])
    return Composite(rev.smap[::-1].copy(), rev.noah[::-1].copy(), rev.age[::-1].copy())
