"""Chunked prediction with a time halo: any fitted method as a dask-backed product.

:func:`predict_lazy` cuts the output period into blocks of ``chunk_days`` days; each block is one task
that loads its days plus the method's ``halo_days`` on each side and calls the method's ordinary
``predict``. Per-day methods (halo 0), STARFM with ``max_age`` and DrcGAN (its reference horizon) stream
exactly: the blocks equal the unchunked prediction. A method whose halo is ``None`` (DCT-PLS smooths the
whole series) runs as one block, with a warning.
"""

from __future__ import annotations

import logging

import numpy as np
import xarray as xr

from ..case import select_period
from ..errors import MethodError
from ..io.lazy import PRODUCT_COORDS
from .base import Method, visible_case

log = logging.getLogger(__name__)


def _predict_block(method, sub: xr.Dataset, period: tuple[str, str]) -> np.ndarray:
    return method.predict(sub.load(), period).values


def predict_lazy(method: Method, case: xr.Dataset, period=None, chunk_days: int = 32) -> xr.DataArray:
    """A dask-backed product of a fitted ``method`` over ``period``, one task per ``chunk_days`` block."""
    import dask
    import dask.array as da

    if not method.fitted:
        raise MethodError(f"{method.name}: predict_lazy() called before fit()")
    out = select_period(case, period)
    days = out.indexes["time"]
    if len(days) == 0:
        raise MethodError(f"{method.name}: the period {period} selects no day of the case")
    all_days = case.indexes["time"]
    halo = method.halo_days
    if halo is None:
        log.warning(
            "%s needs the whole case for every day: predicted as one block (memory grows with the period)", method.name
        )
        step = len(days)
    else:
        step = max(1, int(chunk_days))
    m = dask.delayed(method, pure=True)
    visible = visible_case(case)  # methods never see the twin's truth
    ny, nx = case.sizes["y"], case.sizes["x"]
    blocks = []
    for s in range(0, len(days), step):
        block = days[s : s + step]
        i0, i1 = all_days.get_loc(block[0]), all_days.get_loc(block[-1])
        sub = visible if halo is None else visible.isel(time=slice(max(0, i0 - halo), i1 + halo + 1))
        period_b = (str(block[0].date()), str(block[-1].date()))
        task = dask.delayed(_predict_block, pure=True)(
            m, sub, period_b, dask_key_name=f"predict-{method.name}-{period_b[0]}-{id(method):x}"
        )
        blocks.append(da.from_delayed(task, shape=(len(block), ny, nx), dtype=np.float32))
    data = da.concatenate(blocks, axis=0)
    return xr.DataArray(
        data,
        dims=("time", "y", "x"),
        coords={k: out.coords[k] for k in PRODUCT_COORDS},
        name="sm",
        attrs=method.product_attrs(),
    )
