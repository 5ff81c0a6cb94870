"""Simulated gaps: where usable SMAP is hidden, in one module for every user.

DrcGAN's training (:mod:`stsg_bench.fusion.views`) hides SMAP so the generator learns to fill holes:
swath stripes or blocks per day (:func:`hidden_day`, :func:`thin_validity`), persistent blocks
(:func:`persistent_blocks`), space-time runs for the held-out validation days (:func:`hide_runs`,
:func:`validation_days`). The simulated-gaps experiment of the validation
(:func:`stsg_bench.validation.simgaps.hide_smap`) hides whole days and square blocks
(:func:`hide_days_and_blocks`). Each function takes the numpy random generator it draws from, so a
caller's seeds fix the masks; all return boolean masks (True = hidden) or thinned validity.
"""

from __future__ import annotations

import numpy as np


def hidden_day(shape: tuple[int, int], fraction: float, rng: np.random.Generator) -> np.ndarray:
    """One day's simulated gap: a tilted swath-like stripe or a few square blocks, hiding on average
    ``fraction`` of the field (uniform share in [0, 2 * fraction], at most 0.95)."""
    Y, X = shape
    share = min(2.0 * fraction * rng.random(), 0.95)
    if rng.random() < 0.5:
        yy, xx = np.mgrid[0:Y, 0:X]
        phase, slope = rng.integers(0, X), rng.uniform(-0.5, 0.5)
        return ((xx + slope * yy - phase) % X) < share * X
    hidden = np.zeros(shape, dtype=bool)
    b = int(rng.integers(max(2, min(4, Y // 4)), max(3, min(17, Y // 2))))
    for _ in range(int(round(share * Y * X / b**2))):
        r, c = rng.integers(0, max(Y - b, 1)), rng.integers(0, max(X - b, 1))
        hidden[r : r + b, c : c + b] = True
    return hidden


def thin_validity(valid: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """``valid`` with about ``fraction`` of each day hidden (:func:`hidden_day`)."""
    hidden = np.stack([hidden_day(valid.shape[1:], fraction, rng) for _ in range(valid.shape[0])])
    return valid & ~hidden


def persistent_blocks(land: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Square blocks (8-24 cells) hidden on *every* day, until about ``fraction`` of the land is covered:
    the shape of persistent gaps (dense vegetation, frozen seasons, a flagged region) whose cells have no
    reference within ``max_ref_age`` days, so the generator must predict from Noah and the surroundings."""
    Y, X = land.shape
    hidden = np.zeros(land.shape, dtype=bool)
    target = fraction * max(int(land.sum()), 1)
    for _ in range(10_000):
        if (hidden & land).sum() >= target:
            break
        b = int(rng.integers(min(8, Y, X), min(25, Y, X) + 1))
        r, c = rng.integers(0, max(Y - b, 0) + 1), rng.integers(0, max(X - b, 0) + 1)
        hidden[r : r + b, c : c + b] = True
    return hidden


def hide_runs(valid: np.ndarray, fraction: float, rng: np.random.Generator, max_run: int = 20) -> np.ndarray:
    """Space-time gaps: square blocks (4-16 cells) hidden over runs of 1..``max_run`` consecutive days,
    until about ``fraction`` of the cell-days are hidden. Returns the hidden mask."""
    T, Y, X = valid.shape
    hidden = np.zeros_like(valid)
    target = fraction * T * Y * X
    count = 0  # hidden.sum(), kept up to date (recounting the whole cube every block is the slow part)
    while count < target:
        b, d = int(rng.integers(4, 17)), int(rng.integers(1, max_run + 1))
        t, r, c = rng.integers(0, T), rng.integers(0, max(Y - b, 1)), rng.integers(0, max(X - b, 1))
        box = hidden[t : t + d, r : r + b, c : c + b]
        count += box.size - int(box.sum())
        box[...] = True
    return hidden


def validation_days(n_days: int, fraction: float, run: int, rng: np.random.Generator) -> np.ndarray:
    """Bool (n_days,): runs of ``run`` days, about ``fraction`` of the days, held out for validation (at
    least one day when ``fraction`` > 0; at least two days are left to train on)."""
    held = np.zeros(n_days, dtype=bool)
    if fraction <= 0 or n_days < 3:
        return held
    want = min(max(1, int(round(fraction * n_days))), n_days - 2)
    starts = rng.permutation(np.arange(0, n_days, run))
    for s in starts:
        if held.sum() >= want:
            break
        held[s : min(s + run, s + want - int(held.sum()), n_days)] = True
    return held


def hide_days_and_blocks(
    valid: np.ndarray,
    days: np.ndarray,
    fraction: float,
    block: int,
    day_fraction: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """The simulated-gaps experiment's mask: on ``days`` (indices into the first axis of ``valid``), the
    usable values of about ``day_fraction`` of the days, then ``block`` x ``block`` squares of random
    days, until about ``fraction`` of the usable values there are hidden."""
    T, Y, X = valid.shape
    hidden = np.zeros_like(valid)
    whole = (
        rng.choice(days, size=int(round(day_fraction * len(days))), replace=False) if len(days) else np.array([], int)
    )
    hidden[whole] = valid[whole]
    in_days = np.zeros(T, dtype=bool)
    in_days[days] = True
    target = fraction * valid[in_days].sum()
    count = int(hidden.sum())  # kept up to date below: recounting the cube every block took ~30 s a run
    tries = 0
    while count < target and tries < 100000 and len(days):
        t = rng.choice(days)
        r, c = rng.integers(0, max(Y - block, 1)), rng.integers(0, max(X - block, 1))
        box = hidden[t, r : r + block, c : c + block]
        new = valid[t, r : r + block, c : c + block] & ~box
        count += int(new.sum())
        box |= new
        tries += 1
    return hidden
