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


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the accuracy gate's two subprocess runs as soon as they are known to be needed, so they run
    beside the other tests instead of after them (tests/test_gate.py waits for them)."""
    if session.config.option.collectonly:
        return
    items = [i for i in session.items if i.path.name == "test_gate.py"]
    if not items:
        return
    gate = items[0].module
    gate.start_gate_runs(session.config._tmp_path_factory.mktemp("gate-early"))
