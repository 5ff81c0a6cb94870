"""The 8 symmetries of a square (the dihedral group D4) acting on the last two axes of an array or tensor.

DrcGAN's inputs are scalar fields (soil moisture, ages, validity, land, day of year: no channel has a
direction), so a flipped or transposed crop is as plausible a training example as the crop itself.
CycleGAN flips its training images at random by default (``--no_flip`` turns it off); ``views.flips``
draws one of the 8 symmetries per crop, and ``inference.tta`` averages the generator over the first N
symmetries ``k = 0 .. N-1`` (test-time augmentation: the original, then flips, then the transposes).

Symmetry ``k`` (0-7): transpose if bit 4, flip columns if bit 1, flip rows if bit 2, in that order;
:func:`invert` undoes it.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

A = TypeVar("A", np.ndarray, torch.Tensor)


def _flip(a: A, axis: int) -> A:
    return torch.flip(a, (axis,)) if isinstance(a, torch.Tensor) else np.flip(a, axis)


def _transpose(a: A) -> A:
    return a.transpose(-1, -2) if isinstance(a, torch.Tensor) else np.swapaxes(a, -1, -2)


def apply(a: A, k: int) -> A:
    """Symmetry ``k`` of ``a`` over its last two axes (square, or any shape when ``k`` < 4)."""
    if k & 4:
        a = _transpose(a)
    if k & 1:
        a = _flip(a, -1)
    if k & 2:
        a = _flip(a, -2)
    return a


def invert(a: A, k: int) -> A:
    """Undo :func:`apply` with the same ``k``."""
    if k & 2:
        a = _flip(a, -2)
    if k & 1:
        a = _flip(a, -1)
    if k & 4:
        a = _transpose(a)
    return a
