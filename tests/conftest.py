"""Shared fixtures. Real data lives in ../shared/data (never copied here); tests that need it use the
``real_data`` fixture, which skips with a clear reason when the folder is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("STSG_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(autouse=True)
def _own_thread_policy():
    """Each test starts and ends with the process's thread settings as they were: an in-process CLI call
    sets a load-adaptive thread policy, which must not follow later tests (their torch thread count, and
    so their bits, would then depend on what else the machine runs, e.g. the gate's background runs)."""
    import sys

    from stsg_bench import threads

    saved_policy = threads._policy
    torch = sys.modules.get("torch")
    saved = torch.get_num_threads() if torch is not None else None
    yield
    threads._policy = saved_policy
    torch = sys.modules.get("torch")
    if torch is not None and saved is not None and torch.get_num_threads() != saved:
        torch.set_num_threads(saved)


@pytest.fixture(scope="session")
def real_data() -> Path:
    if not (DATA / "real").is_dir():
        pytest.skip(f"real data folder not found at {DATA} (set STSG_DATA or put shared/data beside the repo)")
    return DATA / "real"


@pytest.fixture(scope="session")
def tiny_twin():
    from stsg_bench.twin import generate_twin

    return generate_twin("tiny", seed=0)


@pytest.fixture(scope="session")
def tiny_case(tiny_twin):
    return tiny_twin.case


#: test processes at most (pyproject's ``-n auto``): a 2-core CI machine's worth; each imports torch and
#: several start subprocesses of their own, so more would mostly add memory and contention
MAX_WORKERS = 2


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """How many test processes ``-n auto`` starts: the CPUs this process may use (affinity, cgroup quota)
    less those other processes keep busy now, at most :data:`MAX_WORKERS`; 0 (everything in this process)
    when that leaves one. ``PYTEST_XDIST_AUTO_NUM_WORKERS`` overrides it. The machine is shared: never
    all of its cores because they exist."""
    import time

    from stsg_bench import threads

    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return int(os.environ["PYTEST_XDIST_AUTO_NUM_WORKERS"])
    policy = threads.ThreadPolicy(threads.usable_cpus(), meter=threads.LoadMeter())
    time.sleep(0.3)  # the load meter's window
    workers = min(MAX_WORKERS, policy.choose())  # the thread policy's rule: usable CPUs less the others' load
    return workers if workers > 1 else 0


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the accuracy gate's two subprocess runs as soon as they are known to be needed, so they run
    beside the other tests instead of after them (tests/test_gate.py waits for them). Under xdist every
    worker collects every test, so there the worker that runs tests/test_gate.py starts them instead (its
    ``gate_runs`` fixture), beside the other worker's tests."""
    if session.config.option.collectonly or os.environ.get("PYTEST_XDIST_WORKER"):
        return
    items = [i for i in session.items if i.path.name == "test_gate.py"]
    if not items:
        return
    gate = items[0].module
    gate.start_gate_runs(session.config._tmp_path_factory.mktemp("gate-early"))
