"""The CPU thread policy: how many threads torch (STARFM, DrcGAN, the fused scoring kernel) may use.

Machines running this are shared: laptops, servers, CI runners, and the suite's own Dask workers. torch
defaults to one intra-op thread per core and its OpenMP threads spin while they wait, so a run beside one
other busy process on 2 cores slowed from 0.9 s to 22.8 s per DrcGAN training step. The policy:

* **usable CPUs** are those this process may run on: its CPU affinity, capped by a cgroup CPU quota
  (``cpu.max`` in cgroup v2, ``cpu.cfs_quota_us`` in v1), not the machine's core count;
* **threads** = usable CPUs minus the CPUs other processes are busy on (measured from ``/proc/stat``
  minus this process's own CPU time), at least 1; re-measured at natural breaks (each method, every few
  DrcGAN training steps, each inference chunk; at most once a second) so two runs started together
  settle on a share each;
* ``--threads N`` (or ``STSG_THREADS=N``) fixes the number instead (more than the usable CPUs is allowed,
  with a warning);
* Dask worker processes get ``threads // workers`` each (:func:`worker_threads`), set inside the worker.

:func:`configure` applies it once at start-up (the CLI does) and logs it; :func:`refresh` is cheap and
does nothing until :func:`configure` was called, so library users keep torch's defaults unless they opt in.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from .errors import ConfigError

log = logging.getLogger(__name__)
ENV = "STSG_THREADS"
#: seconds between two load measurements (refresh calls in between are free)
REFRESH_INTERVAL = 1.0


#: more threads than any machine this runs on has cores (and than torch's thread pool accepts)
MAX_THREADS = 1024


def parse_threads(value: str | int | None, source: str = "--threads") -> int | None:
    """A thread count given by the user: an integer >= 1, or None for 'not given'."""
    if value is None or value == "":
        return None
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ConfigError(
            f"{source}: expected a whole number of threads from 1 to {MAX_THREADS}, got {value!r}"
        ) from None
    if n < 1 or n > MAX_THREADS:
        raise ConfigError(f"{source}: expected a whole number of threads from 1 to {MAX_THREADS}, got {value!r}")
    return n


def _cgroup_quota() -> float | None:
    """CPUs allowed by a cgroup quota, or None when unlimited / unknown."""
    try:
        quota, period = open("/sys/fs/cgroup/cpu.max").read().split()[:2]  # cgroup v2
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int(open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read())  # cgroup v1
        period_us = int(open("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read())
        return None if quota_us <= 0 else quota_us / period_us
    except (OSError, ValueError):
        return None


def usable_cpus() -> int:
    """CPUs this process may use: affinity, capped by the cgroup quota (at least 1)."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    quota = _cgroup_quota()
    if quota is not None:
        n = min(n, max(1, math.ceil(quota)))
    return max(1, n)


class LoadMeter:
    """CPUs kept busy by *other* processes since the last reading (``/proc/stat`` minus our own time)."""

    def __init__(self) -> None:
        self._hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._last = self._read()

    def _read(self) -> tuple[float, float, float] | None:
        try:
            fields = [float(v) for v in open("/proc/stat").readline().split()[1:]]
        except (OSError, ValueError):
            return None  # not Linux: no load information
        busy = (sum(fields) - fields[3] - (fields[4] if len(fields) > 4 else 0.0)) / self._hz  # minus idle, iowait
        t = os.times()
        return time.monotonic(), busy, t.user + t.system

    def others(self) -> float:
        """Average number of CPUs other processes used since the previous call (0 when unknown)."""
        now = self._read()
        last, self._last = self._last, now
        if now is None or last is None or now[0] - last[0] < 0.05:
            return 0.0
        wall = now[0] - last[0]
        return max(0.0, ((now[1] - last[1]) - (now[2] - last[2])) / wall)


@dataclass
class ThreadPolicy:
    usable: int
    fixed: int | None = None
    threads: int = 1
    meter: LoadMeter | None = field(default=None, repr=False)
    _checked: float = 0.0

    def choose(self) -> int:
        if self.fixed is not None:
            return self.fixed
        others = self.meter.others() if self.meter else 0.0
        return max(1, min(self.usable, int(math.floor(self.usable - others + 0.5))))

    def apply(self, n: int, why: str = "") -> None:
        changed = n != self.threads
        self.threads = n
        os.environ["OMP_NUM_THREADS"] = str(n)  # for processes started from here (workers, torchrun)
        if "torch" in sys.modules:
            import torch

            if torch.get_num_threads() != n:
                torch.set_num_threads(n)
        if changed and why:
            log.info("thread policy: %d thread(s) (%s)", n, why)

    def refresh(self) -> int:
        if self.fixed is None and time.monotonic() - self._checked >= REFRESH_INTERVAL:
            self._checked = time.monotonic()
            self.apply(self.choose(), "load of other processes changed")
        elif "torch" in sys.modules:
            self.apply(self.threads)  # torch imported since the last call: give it the policy
        return self.threads


_policy: ThreadPolicy | None = None


def configure(threads: int | str | None = None, sample_seconds: float = 0.2) -> ThreadPolicy:
    """Set the policy for this process (``threads``: a fixed count, else ``$STSG_THREADS``, else
    automatic) and apply it; logs what was chosen and why."""
    global _policy
    fixed = parse_threads(threads) if threads is not None else parse_threads(os.environ.get(ENV), f"${ENV}")
    usable = usable_cpus()
    if fixed is not None and fixed > usable:
        log.warning(
            "%d threads requested but only %d CPUs are usable here: expect slower, not faster, runs", fixed, usable
        )
    policy = ThreadPolicy(usable=usable, fixed=fixed)
    if fixed is None:
        policy.meter = LoadMeter()
        time.sleep(sample_seconds)
        others = policy.meter.others()
        n = max(1, min(usable, int(math.floor(usable - others + 0.5))))
        why = f"{usable} usable CPU(s), other processes busy on {others:.1f}"
        policy._checked = time.monotonic()
    else:
        n, why = fixed, f"fixed by --threads/{ENV}"
    policy.threads = 0  # so apply() logs the first choice
    policy.apply(n, why)
    if "torch" in sys.modules:
        import torch

        try:
            torch.set_num_interop_threads(max(1, min(n, 2)))
        except RuntimeError:  # already set, or parallel work already started
            pass
    _policy = policy
    return policy


_pinned = 0  # depth of active pinned() blocks: refresh() leaves the thread count alone inside them


def refresh() -> int | None:
    """Re-check the load and adjust torch's threads (no-op unless :func:`configure` was called, and
    inside :func:`pinned`)."""
    if _pinned:
        return current()
    return _policy.refresh() if _policy is not None else None


@contextlib.contextmanager
def pinned(n: int) -> Iterator[None]:
    """Run a block with torch fixed to ``n`` intra-op threads whatever the load (for bitwise-repeatable
    CPU results: torch's CPU kernels split reductions by thread, so results are repeatable per thread
    count only); the previous setting comes back afterwards."""
    global _pinned
    import torch

    before = torch.get_num_threads()
    _pinned += 1
    try:
        torch.set_num_threads(n)
        yield
    finally:
        _pinned -= 1
        torch.set_num_threads(before)


def fixed_count() -> int | None:
    """The thread count fixed by ``--threads`` / ``$STSG_THREADS`` for this process, else None."""
    return _policy.fixed if _policy is not None else None


def current() -> int:
    """Threads this process may use now (the policy's, else torch's current setting or the usable CPUs)."""
    if _policy is not None:
        return _policy.threads
    if "torch" in sys.modules:
        import torch

        return torch.get_num_threads()
    return usable_cpus()


T = TypeVar("T")
R = TypeVar("R")


def parallel_map(fn: Callable[[T], R], items: Iterable[T], n: int | None = None) -> list[R]:
    """``[fn(x) for x in items]`` with up to ``n`` (default :func:`current`) items at once in threads,
    results in order.

    For independent pieces of numpy work, which releases the GIL on large arrays: each piece runs on
    one thread whatever the count, so the results are the same bits as one after the other. Pieces
    must not share mutable state."""
    items = list(items)
    n = min(n or current(), len(items))
    if n <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(fn, items))


def worker_threads(workers: int) -> int:
    """Threads for each of ``workers`` worker processes: an equal share of this process's, at least 1."""
    return max(1, current() // max(1, workers))


def set_worker_threads(n: int) -> None:
    """Inside a worker process: fix its threads to ``n`` (torch and processes it starts)."""
    os.environ["OMP_NUM_THREADS"] = str(n)
    os.environ[ENV] = str(n)
    import torch

    torch.set_num_threads(n)
