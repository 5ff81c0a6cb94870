"""Shared fixtures. Real data lives in ../shared/data (never copied here); tests that need it use the
``real_data`` fixture, which skips with a clear reason when the folder is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("STSG_DATA", ROOT.parent / "shared" / "data"))


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
