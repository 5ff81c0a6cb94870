"""Archive scale: dask-backed cases and products, chunked prediction, schedulers (``--scheduler``).

The same methods and scoring run on in-memory cases and on lazily loaded ones; see
:mod:`stsg_bench.scale.lazy` and :mod:`stsg_bench.scale.scheduler`, and ``stsg-bench scale``.
"""
from .lazy import case_files, open_case_lazy, open_product_lazy, predict_lazy
from .scheduler import SchedulerError, SchedulerSpec, use_scheduler

__all__ = ["case_files", "open_case_lazy", "open_product_lazy", "predict_lazy", "SchedulerError", "SchedulerSpec", "use_scheduler"]
