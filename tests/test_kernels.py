"""Reproducible CPU kernels (stsg_bench/kernels.py): the same DrcGAN product on another CPU and load.

"Another machine" is simulated in a subprocess by the knobs an AVX2-only CPU would set itself (ATen's
capability, MKL's and oneDNN's instruction sets) and a busy process beside it. The fast mode under the
same simulation gives other bits, which shows the simulation changes what it should."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

from stsg_bench import kernels
from stsg_bench.twin import write_twin

pytestmark = pytest.mark.slow  # fresh interpreters beside a busy process: end-to-end

CLI = [sys.executable, "-m", "stsg_bench.cli"]
BUSY = "import time\nend = time.monotonic() + 60\nwhile time.monotonic() < end:\n    pass\n"
#: what an AVX2-only x86-64 machine selects by itself
AVX2_MACHINE = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
CONFIG = """method = "drcgan"
[config]
preset = "demo"
steps = 40
pretrain_fraction = 0.5
val_every = 20
seed = 0
"""


def _clean_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in (*AVX2_MACHINE, "MKL_CBWR", kernels.ENV)}
    return {**env, **extra}


@pytest.fixture(scope="module")
def fuse_inputs(tiny_twin, tmp_path_factory):
    d = tmp_path_factory.mktemp("kernels")
    write_twin(tiny_twin, d / "twin")
    (d / "drcgan.toml").write_text(CONFIG)
    return d


def _start(d, name: str, mode: str, env: dict) -> subprocess.Popen:
    cmd = CLI + ["--kernels", mode, "--threads", "1", "fuse", "--method", "drcgan"]
    cmd += ["--case", str(d / "twin" / "case.nc"), "--config", str(d / "drcgan.toml"), "--out", str(d / f"{name}.nc")]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)


def _product(d, name: str, mode: str, proc: subprocess.Popen) -> np.ndarray:
    _, err = proc.communicate()
    assert proc.returncode == 0, err[-2000:]
    with xr.open_dataset(d / f"{name}.nc") as ds:
        assert ds["sm"].attrs["kernels"].startswith(mode)
        return ds["sm"].values


@pytest.mark.skipif(not {"avx2", "fma"} <= kernels.cpu_flags(), reason="needs an x86-64 CPU with AVX2 (Linux)")
def test_reproducible_kernels_give_the_same_product_on_another_machine(fuse_inputs):
    d = fuse_inputs
    # two at a time (one thread each): here, and on a simulated AVX2 machine with a busy process beside it
    neighbour = subprocess.Popen([sys.executable, "-c", BUSY])
    try:
        runs = {"here": _start(d, "here", "reproducible", _clean_env())}
        runs["there"] = _start(d, "there", "reproducible", _clean_env(**AVX2_MACHINE))
        here, there = (_product(d, n, "reproducible", p) for n, p in runs.items())
    finally:
        neighbour.kill()
        neighbour.wait()
    assert np.array_equal(here, there, equal_nan=True)
    assert np.isfinite(here).any()
    # the simulation has teeth: the fast kernels under it give other bits (ATen's generic kernels here)
    runs = {"fast": _start(d, "fast", "fast", _clean_env())}
    runs["fast_there"] = _start(d, "fast_there", "fast", _clean_env(ATEN_CPU_CAPABILITY="default"))
    fast, fast_there = (_product(d, n, "fast", p) for n, p in runs.items())
    assert not np.array_equal(fast, fast_there, equal_nan=True)


def test_pinning_after_torch_ran_is_a_one_line_error():
    code = (
        "import torch\ntorch.ones(8).sum()\nfrom stsg_bench import kernels\n"
        "from stsg_bench.errors import ConfigError\n"
        "try:\n    kernels.pin()\nexcept ConfigError as e:\n    print('ERR', e)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_clean_env())
    assert r.returncode == 0, r.stderr
    if kernels.cpu_isa() in ("AVX-512", "AMX"):  # torch picked AVX-512 kernels before the pin
        assert "ERR reproducible kernels: torch already runs AVX512 kernels" in r.stdout
    # ATen already on AVX2 but MKL has run a matrix product: MKL refuses the branch change (-8)
    code = code.replace("torch.ones(8).sum()", "(torch.ones(64, 64) @ torch.ones(64, 64)).sum()")
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_clean_env(ATEN_CPU_CAPABILITY="avx2")
    )
    assert r.returncode == 0, r.stderr
    if kernels._mkl() is not None and {"avx2", "fma"} <= kernels.cpu_flags():
        assert "ERR reproducible kernels: MKL refused its COMPATIBLE branch (code -8" in r.stdout


def test_pin_sets_every_knob_and_reports_it():
    code = (
        "from stsg_bench import kernels\nst = kernels.pin()\nimport torch, os\n"
        "print(st['kernels'], st['aten_capability'], st['onednn'], st['threads'], os.environ['MKL_CBWR'],\n"
        "      st['mkl_cbwr'], st['large_buffers'])\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_clean_env(MKL_ENABLE_INSTRUCTIONS="AVX512")
    )
    assert r.returncode == 0, r.stderr
    mode, cap, onednn, n, cbwr, code, large = r.stdout.split()
    assert (mode, onednn, n) == ("reproducible", "False", "1")
    # glibc keeps im2col-sized blocks on the heap (allocation only; the bitwise tests here and in
    # test_gate.py check that the bits do not move)
    assert large == str(platform.libc_ver()[0] == "glibc")
    # MKL's COMPATIBLE branch on every CPU: the one an Intel and an AMD machine share (AMD refuses AVX2)
    assert cbwr == "COMPATIBLE" and code in (str(kernels.MKL_CBWR_COMPATIBLE), "None")
    if {"avx2", "fma"} <= kernels.cpu_flags():
        assert cap == "AVX2"


@pytest.mark.parametrize("how", ["flag", "env"])
def test_bad_kernel_mode_is_a_one_line_error(how):
    if how == "flag":
        r = subprocess.run(CLI + ["--kernels", "turbo", "methods"], capture_output=True, text=True)
    else:
        r = subprocess.run(CLI + ["methods"], capture_output=True, text=True, env=_clean_env(**{kernels.ENV: "turbo"}))
    assert r.returncode == 2 and "Traceback" not in r.stderr and "turbo" in r.stderr
    assert r.stderr.strip().count("\n") == 0
