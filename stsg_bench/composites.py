"""Per-pixel reference composites: for each day t and pixel, the most recent usable SMAP value *before*
t (and the next one *after* t), the Noah value on that same day, and its age in days.

SMAP gaps move from day to day, so a single reference *image* (as in STARFM) would itself be full of
holes; the composite gives every pixel its own reference day. Both DrcGAN's input builder and the
STARFM-like baseline use it. ``age`` is +inf where no reference exists (then the values are NaN).
With ``max_age`` set, older references count as missing, so a day depends only on the ``max_age`` days
either side of it (what makes chunked, streaming prediction exact).
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
    """field (T, Y, X) at per-pixel time indices idx (D, Y, X); NaN where idx < 0."""
    safe = np.clip(idx, 0, field.shape[0] - 1)
    out = np.take_along_axis(field, safe, axis=0)
    return np.where(idx >= 0, out, np.nan).astype(np.float32)


def _days(T: int, days) -> np.ndarray:
    return np.arange(T) if days is None else np.asarray(days, dtype=np.int64)


def _composite(smap, noah, ref: np.ndarray, days: np.ndarray, max_age: int | None) -> Composite:
    """Composite from reference indices ``ref`` (D, Y, X; -1 where none) of output ``days``."""
    age = np.abs(days.reshape(-1, 1, 1) - ref).astype(np.float32)
    if max_age is not None:
        ref = np.where(age <= max_age, ref, -1)
    age = np.where(ref >= 0, age, np.float32(np.inf)).astype(np.float32)
    return Composite(_gather(smap, ref), _gather(noah, ref), age)


def previous_composite(
    smap: np.ndarray, noah: np.ndarray, valid: np.ndarray, max_age: int | None = None, days=None
) -> Composite:
    """References strictly before each day (at most ``max_age`` days old when given), for the time
    indices ``days`` only (default: every day). Memory: one int32 (T, Y, X) index array."""
    T = smap.shape[0]
    days = _days(T, days)
    last = np.where(valid, np.arange(T, dtype=np.int32).reshape(-1, 1, 1), np.int32(-1))
    np.maximum.accumulate(last, axis=0, out=last)  # last valid index <= t
    ref = np.where((days > 0).reshape(-1, 1, 1), last[np.maximum(days - 1, 0)], np.int32(-1))
    del last
    return _composite(smap, noah, ref, days, max_age)


def next_composite(
    smap: np.ndarray, noah: np.ndarray, valid: np.ndarray, max_age: int | None = None, days=None
) -> Composite:
    """References strictly after each day (offline reprocessing can look forward, like STARFM)."""
    T = smap.shape[0]
    days = _days(T, days)
    first = np.where(valid, np.arange(T, dtype=np.int32).reshape(-1, 1, 1), np.int32(T))
    rev = first[::-1]
    np.minimum.accumulate(rev, axis=0, out=rev)  # first valid index >= t
    ref = np.where((days < T - 1).reshape(-1, 1, 1), first[np.minimum(days + 1, T - 1)], np.int32(T))
    del first, rev
    ref = np.where(ref < T, ref, np.int32(-1))
    return _composite(smap, noah, ref, days, max_age)
