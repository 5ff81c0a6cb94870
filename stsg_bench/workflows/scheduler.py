"""Where Dask work runs: the ``--scheduler`` option of the archive-scale commands.

==================  =====================================================================
``threads``         dask's local threaded scheduler (default; numpy/torch kernels release the GIL):
                    as many task threads as the thread policy allows, torch at one thread per task
``synchronous``     one thread, for debugging and profiling
``processes``       dask's local process pool, one process per policy thread, torch at its share
``local[:N]``       a ``dask.distributed.LocalCluster`` of N single-threaded worker processes
                    (default N = the policy's threads), each worker's torch at threads // N
``tcp://HOST:PORT`` an existing Dask cluster's scheduler (``HOST:PORT`` and ``tls://`` too)
==================  =====================================================================

The shares come from :mod:`stsg_bench.threads`, so Dask workers never multiply the CPU threads. An
address that cannot be reached within ``timeout`` seconds is a one-line :class:`SchedulerError`.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from .. import kernels, threads
from ..errors import ConfigError, StsgError

log = logging.getLogger(__name__)
LOCAL_SCHEDULERS = ("threads", "synchronous", "processes")
_ADDRESS = re.compile(r"^(tcp|tls|inproc|ucx)://.+|^[\w.\-]+:\d+$")


class SchedulerError(StsgError):
    """The Dask scheduler asked for cannot be started or reached."""


@dataclass(frozen=True)
class SchedulerSpec:
    kind: str  # 'threads' | 'synchronous' | 'processes' | 'local' | 'address'
    workers: int | None = None
    address: str | None = None

    @classmethod
    def parse(cls, spec: str | None) -> SchedulerSpec:
        spec = (spec or "threads").strip()
        if spec in LOCAL_SCHEDULERS:
            return cls(spec)
        if spec == "local" or spec.startswith("local:"):
            n = spec.partition(":")[2]
            if n and not (n.isdigit() and int(n) > 0):
                raise ConfigError(f"scheduler '{spec}': expected local or local:N with N >= 1 workers")
            return cls("local", workers=int(n) if n else None)
        if _ADDRESS.match(spec):
            return cls("address", address=spec if "://" in spec else f"tcp://{spec}")
        raise ConfigError(
            f"unknown scheduler '{spec}' (valid: {', '.join(LOCAL_SCHEDULERS)}, local[:N], tcp://HOST:PORT)"
        )


@contextlib.contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    """torch's intra-op threads set to ``n`` inside the block, restored after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _import_distributed():
    try:
        import distributed
    except ImportError:  # pragma: no cover - distributed is in the test and dask extras
        raise SchedulerError("this scheduler needs dask.distributed: pip install 'stsg-bench[dask]'") from None
    return distributed


@contextlib.contextmanager
def use_scheduler(spec: str | SchedulerSpec | None = "threads", timeout: float = 10.0) -> Iterator[SchedulerSpec]:
    """Run the dask computations inside the ``with`` block on the scheduler ``spec`` describes."""
    import dask

    sp = spec if isinstance(spec, SchedulerSpec) else SchedulerSpec.parse(spec)
    if sp.kind == "threads":  # n tasks at once, each running torch on one thread: n threads in all
        with dask.config.set(scheduler="threads", num_workers=threads.current()), _torch_threads(1):
            yield sp
        return
    if sp.kind == "processes":  # each worker process gets its share, set inside it
        n = threads.current()
        with ProcessPoolExecutor(n, initializer=kernels.init_worker, initargs=(threads.worker_threads(n),)) as pool:
            with dask.config.set(scheduler="processes", pool=pool):
                yield sp
        return
    if sp.kind in LOCAL_SCHEDULERS:
        with dask.config.set(scheduler=sp.kind):
            yield sp
        return
    distributed = _import_distributed()
    if sp.kind == "local":
        n = sp.workers or threads.current()
        share = str(threads.worker_threads(n))  # each worker's torch threads, set before it starts
        try:
            cluster = distributed.LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                env={"OMP_NUM_THREADS": share, threads.ENV: share},
            )
        except (OSError, RuntimeError, TimeoutError) as exc:
            raise SchedulerError(f"cannot start a Dask LocalCluster with {n} workers ({exc})") from None
        try:
            with distributed.Client(cluster) as client:
                log.info("dask LocalCluster with %d workers at %s", n, client.scheduler.address)
                yield sp
        finally:
            cluster.close()
        return
    try:
        client = distributed.Client(sp.address, timeout=f"{timeout}s")
    except (OSError, TimeoutError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SchedulerError(
            f"cannot reach the Dask scheduler at {sp.address} within {timeout:g} s ({reason})"
        ) from None
    try:
        log.info("connected to the Dask scheduler at %s", sp.address)
        yield sp
    finally:
        client.close()
