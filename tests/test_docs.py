"""The documentation site builds with MkDocs, warnings as errors (broken links, missing pages, docstrings
mkdocstrings cannot render), and its API reference holds the public functions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # a whole MkDocs build
def test_docs_build_strictly(tmp_path):
    pytest.importorskip("mkdocstrings", reason="the docs extra is not installed (pip install -e '.[test]')")
    r = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    api = (tmp_path / "site" / "api" / "data" / "index.html").read_text(encoding="utf-8")
    assert "source_flag" in api and "write_dataset_atomic" in api
    assert (tmp_path / "site" / "formats" / "index.html").exists()
