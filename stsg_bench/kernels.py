"""CPU kernel modes: ``fast`` (torch's defaults) and ``reproducible`` (the same bits on any x86-64 CPU).

Why a mode is needed. torch picks its CPU kernels from the machine: ATen's vectorised kernels from the
CPU's ISA (AVX2, AVX-512), convolutions from oneDNN (its own AVX2 / AVX-512 / AMX code, with blocking
chosen per CPU) and matrix products from MKL (per-ISA code paths). Each choice sums in another order, so
the last bits differ between machines, and a GAN's training amplifies them: a 60-step demo DrcGAN fit
moved by up to 0.03 m3 m-3 when only the ISA changed, and the CI gate failed on an AVX-512/AMX machine
with a reference written on an AVX2 one. Thread counts matter the same way (reductions split by thread).

``reproducible`` pins every one of these choices, before torch runs its first operation:

* ``ATEN_CPU_CAPABILITY=avx2`` - ATen's kernels as on any AVX2 machine (``default`` where the CPU has no
  AVX2/FMA: then the bits match other such machines only);
* oneDNN and NNPACK off - convolutions run as im2col + GEMM in ATen (``slow_conv2d``), whose order does
  not depend on the CPU; ``ONEDNN_MAX_CPU_ISA=AVX2`` as well, for anything that would still reach oneDNN;
* MKL's conditional numerical reproducibility, branch COMPATIBLE (``MKL_CBWR=COMPATIBLE``; set through
  ``mkl_serv_cbwr_set`` and checked with ``mkl_serv_cbwr_get``), and ``MKL_ENABLE_INSTRUCTIONS=SSE4_2``,
  which would otherwise override it. COMPATIBLE, not AVX2: MKL offers its ISA branches on Intel CPUs
  only (an AMD EPYC refuses AVX2 with "unsupported branch"), and the gate's reference must be the
  same bits on both vendors' machines;
* a fixed thread count (1 unless ``--threads N``), whatever the load.

Measured (README, "Reproducible kernels"): bitwise-equal DrcGAN weights with the ISA knobs of an AVX2
machine simulated on an AVX-512/AMX one, and with another process busy beside it; the price is the
ATen im2col convolution: 2.55-2.7x the fast mode's time for the demo DrcGAN fit at the same thread
count (docs/reproducibility.md). Hence
``reproducible`` is the gate's mode and opt-in elsewhere (``--kernels reproducible``, ``STSG_KERNELS``, or
``kernels = "reproducible"`` in a run config). Bits still depend on the torch version (pinned in CI).
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import platform
import sys
from pathlib import Path

from .errors import ConfigError

log = logging.getLogger(__name__)
ENV = "STSG_KERNELS"
MODES = ("fast", "reproducible")
MKL_CBWR_BRANCH, MKL_CBWR_COMPATIBLE = 1, 3  # mkl_service.h
#: MKL's branch in reproducible mode: the one MKL offers on Intel and on other vendors' CPUs alike (on an
#: AMD EPYC, ``mkl_serv_cbwr_set`` refuses AVX2 and every other ISA branch: -3, unsupported branch)
MKL_BRANCH, MKL_INSTRUCTIONS = "COMPATIBLE", "SSE4_2"

_mode = "fast"


def parse_mode(value: str | None, source: str = "--kernels") -> str | None:
    if value is None or value == "":
        return None
    if value not in MODES:
        raise ConfigError(f"{source}: expected one of {', '.join(MODES)}, got {value!r}")
    return value


def cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux ``/proc/cpuinfo``; empty elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_isa() -> str:
    """The widest vector ISA of this CPU in the terms that decide torch's kernels."""
    flags = cpu_flags()
    if "amx_tile" in flags:
        return "AMX"
    if "avx512f" in flags:
        return "AVX-512"
    if "avx2" in flags:
        return "AVX2"
    return platform.machine() or "unknown"


def _pinned_aten() -> str:
    """The ATen capability that reproducible mode pins on this CPU: ``avx2``, or ``default`` on an x86-64
    CPU without AVX2/FMA (whose bits then match other such machines only)."""
    flags = cpu_flags()
    if platform.machine() in ("x86_64", "AMD64") and not {"avx2", "fma"} <= flags and flags:
        return "default"
    return "avx2"


@functools.lru_cache(maxsize=1)
def _mkl():
    """torch's statically linked MKL service functions, or None (no MKL in this torch build)."""
    import torch

    for name in ("libtorch_cpu.so", "libtorch_cpu.dylib", "torch_cpu.dll"):
        path = Path(torch.__file__).parent / "lib" / name
        if path.exists():
            try:
                lib = ctypes.CDLL(str(path))
                lib.mkl_serv_cbwr_get  # noqa: B018 - raises AttributeError without MKL
                return lib
            except (OSError, AttributeError):
                return None
    return None


#: glibc ``mallopt`` parameters and the value reproducible mode gives them (bytes)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, LARGE_BUFFERS = -1, -3, 1 << 30
_large_buffers = False


def _keep_large_buffers() -> bool:
    """Let glibc keep freed blocks up to 1 GiB on the heap instead of returning them to the kernel.

    Without oneDNN every convolution allocates an im2col buffer (58 MB for a 7x7 layer on a batch of
    eight 48-cell crops), above glibc's mmap threshold (at most 32 MB): each call mapped fresh pages,
    which the kernel zeroes, and unmapped them again. Measured on the gate twin (40 DrcGAN steps, one
    thread, AMD EPYC): 42.8 s of which 14.5 s system time, against 28.5 s and 0.4 s with this. Allocation
    only, so the bits are the same. No-op (False) where the C library has no ``mallopt`` (not glibc)."""
    global _large_buffers
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    _large_buffers = bool(mallopt(M_MMAP_THRESHOLD, LARGE_BUFFERS)) and bool(mallopt(M_TRIM_THRESHOLD, LARGE_BUFFERS))
    return _large_buffers


def pin(n_threads: int | None = None) -> dict:
    """Switch this process to reproducible kernels (see the module docstring) and return :func:`state`.

    Must run before torch's first CPU operation in the process: afterwards ATen's ISA and MKL's code path
    are fixed, and a one-line :class:`ConfigError` says so (start a new process with ``STSG_KERNELS``)."""
    global _mode
    from . import threads

    aten = _pinned_aten()
    wanted = {
        "ATEN_CPU_CAPABILITY": aten,
        "MKL_CBWR": MKL_BRANCH,
        "MKL_ENABLE_INSTRUCTIONS": MKL_INSTRUCTIONS,
        "ONEDNN_MAX_CPU_ISA": "AVX2" if aten == "avx2" else "SSE41",
        ENV: "reproducible",  # child processes (dask workers) pin themselves from this
    }
    for key, value in wanted.items():
        if os.environ.get(key, value) != value:
            log.info("reproducible kernels: %s %s -> %s", key, os.environ[key], value)
        os.environ[key] = value
    import torch

    got = torch.backends.cpu.get_cpu_capability().lower()
    if got != aten:
        raise ConfigError(
            f"reproducible kernels: torch already runs {got.upper()} kernels in this process; "
            f"start a new process with {ENV}=reproducible (or `stsg-bench --kernels reproducible`)"
        )
    lib = _mkl()
    if lib is not None and lib.mkl_serv_cbwr_get(MKL_CBWR_BRANCH) != MKL_CBWR_COMPATIBLE:
        refused = lib.mkl_serv_cbwr_set(MKL_CBWR_COMPATIBLE)
        if refused:  # -8: MKL already ran in this process; -3: a branch this CPU's MKL does not offer
            raise ConfigError(
                f"reproducible kernels: MKL refused its {MKL_BRANCH} branch (code {refused}; -8: MKL already ran "
                f"in this process): start a new process with {ENV}=reproducible"
            )
    if lib is None:
        log.warning("reproducible kernels: this torch has no MKL; matrix products follow this CPU (%s)", cpu_isa())
    torch.backends.mkldnn.enabled = False
    torch.backends.nnpack.set_flags(False)
    _keep_large_buffers()
    _mode = "reproducible"
    n = n_threads or threads.fixed_count() or threads.parse_threads(os.environ.get(threads.ENV), f"${threads.ENV}")
    threads.configure(n or 1)
    st = state()
    log.info("kernels: %s", describe(st))
    return st


def configure(mode: str | None = None, n_threads: int | None = None) -> str:
    """Apply ``mode`` (else ``$STSG_KERNELS``, else ``fast``); returns the mode in force. ``fast`` leaves
    torch as it is (it cannot undo an earlier :func:`pin` in the same process)."""
    mode = parse_mode(mode) or parse_mode(os.environ.get(ENV), f"${ENV}") or "fast"
    if mode == "reproducible" and _mode != "reproducible":
        pin(n_threads)
    return _mode


def init_worker(n_threads: int) -> None:
    """Inside a Dask worker process: the parent's kernel mode (from ``$STSG_KERNELS``) and ``n_threads``."""
    from . import threads

    os.environ[threads.ENV] = str(n_threads)
    configure(None, n_threads)
    threads.set_worker_threads(n_threads)


def mode() -> str:
    return _mode


def state() -> dict:
    """What decides the CPU bits of this process: mode, ISA pins, MKL branch, threads, versions."""
    from . import threads

    st: dict = {
        "kernels": _mode,
        "cpu_isa": cpu_isa(),
        "machine": platform.machine(),
        "threads": threads.current(),
        "large_buffers": _large_buffers,
    }
    if "torch" in sys.modules:
        import numpy
        import torch

        lib = _mkl()
        st.update(
            torch=torch.__version__,
            numpy=numpy.__version__,
            aten_capability=torch.backends.cpu.get_cpu_capability(),
            onednn=bool(torch.backends.mkldnn.enabled),
            mkl_cbwr=int(lib.mkl_serv_cbwr_get(MKL_CBWR_BRANCH)) if lib is not None else None,
        )
    return st


def describe(st: dict | None = None) -> str:
    """One line for logs, attributes and report headers."""
    st = st or state()
    parts = [st["kernels"], f"CPU {st['cpu_isa']}", f"{st['threads']} thread(s)"]
    if "torch" in st:
        parts += [f"ATen {st['aten_capability']}", f"oneDNN {'on' if st['onednn'] else 'off'}"]
        if st.get("mkl_cbwr") is not None:
            parts.append(f"MKL CBWR {st['mkl_cbwr']}")
        parts.append(f"torch {st['torch']}")
    return ", ".join(parts)
