"""The CPU thread policy (stsg_bench.threads): bad input, the usable CPUs, load-aware choice, Dask shares.

No wall-clock time is asserted; the load tests assert only directions that hold on any machine (a busy
neighbour can only lower the chosen count)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from stsg_bench import threads
from stsg_bench.errors import ConfigError

CLI = [sys.executable, "-m", "stsg_bench.cli"]
BUSY = "import time\nend = time.monotonic() + 20\nwhile time.monotonic() < end:\n    pass\n"


@pytest.mark.parametrize("value", ["0", "-2", "x", "1.5"])
def test_bad_thread_counts_are_one_line_errors(value):
    with pytest.raises(ConfigError, match="expected a whole number of threads from 1"):
        threads.parse_threads(value)
    r = subprocess.run(CLI + ["--threads", value, "methods"], capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0 and "--threads" in r.stderr
    r = subprocess.run(CLI + ["methods"], capture_output=True, text=True, env={**os.environ, threads.ENV: value})
    assert r.returncode == 2 and "$STSG_THREADS" in r.stderr and "Traceback" not in r.stderr


def test_more_threads_than_cpus_is_allowed_with_a_warning():
    n = threads.usable_cpus() + 3
    r = subprocess.run(CLI + ["--threads", str(n), "methods"], capture_output=True, text=True)
    assert r.returncode == 0 and "CPUs are usable here" in r.stderr


def test_usable_cpus_follow_the_affinity():
    assert 1 <= threads.usable_cpus() <= len(os.sched_getaffinity(0))


def _policy_in_subprocess(args: str, env: dict | None = None) -> tuple[int, int]:
    code = (
        "from stsg_bench import threads\nimport torch\n"
        f"p = threads.configure({args})\nprint(p.threads, torch.get_num_threads())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **(env or {})}
    )
    assert out.returncode == 0, out.stderr
    a, b = out.stdout.split()
    return int(a), int(b)


def test_fixed_threads_reach_torch():
    assert _policy_in_subprocess("1") == (1, 1)
    assert _policy_in_subprocess("None", {threads.ENV: "2"}) == (2, 2)


def test_a_busy_neighbour_lowers_the_threads():
    usable = threads.usable_cpus()
    busy = subprocess.Popen([sys.executable, "-c", BUSY])
    try:
        chosen, in_torch = _policy_in_subprocess("None, sample_seconds=0.5")
    finally:
        busy.kill()
    assert chosen == in_torch and 1 <= chosen <= max(1, usable - 1)


def test_load_meter_sees_other_processes_not_itself():
    meter = threads.LoadMeter()
    busy = subprocess.Popen([sys.executable, "-c", BUSY])
    try:
        import time

        time.sleep(0.6)
        others = meter.others()
    finally:
        busy.kill()
    assert others >= 0.5  # the neighbour's busy loop (and anything else running) counts
    end = time.monotonic() + 0.3
    while time.monotonic() < end:  # our own busy loop does not
        pass
    assert meter.others() < threads.usable_cpus()


def test_threaded_dask_runs_torch_at_one_thread_per_task():
    from stsg_bench.workflows.scheduler import use_scheduler

    before = torch.get_num_threads()
    with use_scheduler("threads"):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_local_cluster_workers_get_their_share():
    pytest.importorskip("distributed")
    from distributed import get_client

    from stsg_bench.workflows.scheduler import use_scheduler

    with use_scheduler("local:2"):
        got = get_client().run(lambda: __import__("torch").get_num_threads())
    assert set(got.values()) == {threads.worker_threads(2)}


def test_test_processes_follow_idle_cpus(monkeypatch):
    """pyproject's ``-n auto``: two test processes where two CPUs are idle, one process (0 workers) where
    other processes leave one, never more than two; the environment variable overrides it."""
    import conftest

    from stsg_bench import threads as th

    monkeypatch.delenv("PYTEST_XDIST_AUTO_NUM_WORKERS", raising=False)
    for usable, busy, want in ((1, 0.0, 0), (2, 0.0, 2), (2, 1.0, 0), (16, 0.0, 2), (16, 13.2, 2), (16, 14.8, 0)):
        monkeypatch.setattr(th, "usable_cpus", lambda n=usable: n)
        monkeypatch.setattr(th.LoadMeter, "others", lambda self, b=busy: b)
        assert conftest.pytest_xdist_auto_num_workers(None) == want, (usable, busy)
    monkeypatch.setenv("PYTEST_XDIST_AUTO_NUM_WORKERS", "3")
    assert conftest.pytest_xdist_auto_num_workers(None) == 3
