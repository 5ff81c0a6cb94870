"""Extent-independent inference: the generator applied to half-overlapping tiles anchored to the grid.

Instance norm normalises each feature map over the whole input, so a generator run on a whole field
gives a cell a value that depends on everything in the field, ocean included: the same cell predicted
inside a regional window and inside the global field differed. Here the field is cut into square tiles
of ``tile`` cells (by default the training crop size, so the generator sees inputs of the size it was
trained on), placed every ``tile // 2`` cells on a grid anchored to the *absolute* EASE-Grid 2.0 row and
column, and the tiles' residuals are blended with separable sin² weights: along each axis a cell lies
in exactly two tiles, whose weights sum to one (sin² + cos²), so no normalisation is needed.

A cell's value therefore depends only on the inputs inside the 2 x 2 tiles covering it, a block of
1.5 tiles on a side at a fixed place on the grid: any window that holds that block predicts the cell
identically (to float rounding), wherever the window starts and however large it is. Tiles without land
are skipped. Cost: about four generator evaluations per cell instead of one.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

#: index of the land channel, counted from the end of the channel stack (see :mod:`.inputs`)
LAND_CHANNEL = -3


def tile_grid(origin: int, size: int, tile: int) -> tuple[int, int, int]:
    """Along one axis, for a field of ``size`` cells starting at absolute index ``origin``: cells of
    padding before and after the field, and the number of tiles (two cover every cell)."""
    step = tile // 2
    first = (origin // step) * step - step  # first tile start covering the field's first cell twice over
    last = ((origin + size - 1) // step) * step  # last tile start covering its last cell
    n = (last - first) // step + 1
    return origin - first, first + (n - 1) * step + tile - (origin + size), n


def blend_weights(tile: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """(tile, tile) separable sin² window; shifted by half a tile, two windows sum to one."""
    w = torch.sin(torch.pi * (torch.arange(tile, dtype=torch.float64) + 0.5) / tile) ** 2
    return torch.outer(w, w).float().to(device)


def tiled_apply(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    fill: torch.Tensor,
    origin: tuple[int, int],
    tile: int,
    batch: int = 32,
) -> torch.Tensor:
    """Blend ``fn`` (B, C, tile, tile) -> (B, 1, tile, tile) over tiles of ``x`` (B, C, H, W), the
    channels of a field whose first cell is at absolute grid ``origin`` (row, col); ``fill`` (B, C) are
    the channel values outside the field. Returns (B, H, W)."""
    if tile % 2:
        raise ValueError(f"tile must be even, got {tile}")
    B, C, H, W = x.shape
    step = tile // 2
    top, bottom, ny = tile_grid(origin[0], H, tile)
    left, right, nx = tile_grid(origin[1], W, tile)
    Hp, Wp = top + H + bottom, left + W + right
    xp = fill[:, :, None, None].expand(B, C, Hp, Wp).clone()
    xp[:, :, top : top + H, left : left + W] = x
    view = xp.unfold(2, tile, step).unfold(3, tile, step)  # (B, C, ny, nx, tile, tile), no copy
    has_land = view[0, LAND_CHANNEL].amax(dim=(-2, -1)) > 0.5  # (ny, nx): the same every day
    cells = torch.nonzero(has_land.expand(B, ny, nx))  # (K, 3): day, tile row, tile col
    out = torch.zeros(B * ny * nx, tile, tile, device=x.device)
    weights = blend_weights(tile, x.device)
    flat = (cells[:, 0] * ny + cells[:, 1]) * nx + cells[:, 2]
    for k in range(0, len(cells), batch):
        b, i, j = cells[k : k + batch].unbind(1)
        out[flat[k : k + batch]] = fn(view[b, :, i, j])[:, 0].float() * weights
    folded = torch.nn.functional.fold(
        out.view(B, ny * nx, tile * tile).transpose(1, 2), output_size=(Hp, Wp), kernel_size=tile, stride=step
    )
    return folded[:, 0, top : top + H, left : left + W]


def window_interior(origin: int, size: int, tile: int) -> np.ndarray:
    """Bool mask of the cells of a window (``size`` cells from absolute ``origin``) whose covering tiles
    lie inside it: the cells it predicts exactly as any larger window does."""
    idx = np.arange(origin, origin + size)
    step = tile // 2
    start = (idx // step) * step - step
    return (start >= origin) & (start + step + tile <= origin + size)
