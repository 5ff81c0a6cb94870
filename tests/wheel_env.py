"""Build the project's wheel and install it into a fresh virtual environment, as a user's ``pip install``
would (the tests then run its ``stsg-bench`` from a folder outside the checkout, so nothing but the wheel's
own files can be found).

The venv sees the system's site-packages for the dependencies (torch, numpy, ... are not reinstalled),
but the package itself comes from the wheel: :func:`check_isolated` asserts it.

    python tests/wheel_env.py FOLDER   # -> FOLDER/venv, FOLDER/cwd
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: what the wheel is built from (build outputs and caches left behind)
SOURCES = ("pyproject.toml", "README.md", "stsg_bench")
IGNORE = shutil.ignore_patterns("*.egg-info", "__pycache__")


def build(folder: Path) -> Path:
    """The wheel built from a copy of the source tree (the checkout gets no build folder), installed into
    ``folder/venv``; returns the venv's ``bin`` folder. ``folder/cwd`` is an empty working folder."""
    folder = Path(folder)
    src, wheels = folder / "src", folder / "wheels"
    src.mkdir(parents=True)
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=IGNORE)
        else:
            shutil.copy2(ROOT / name, src / name)
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(src)], check=True)
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(folder / "venv")], check=True)
    wheel = next(wheels.glob("stsg_bench-*.whl"))
    bin_ = folder / "venv" / "bin"
    subprocess.run([str(bin_ / "python"), "-m", "pip", "-q", "install", "--no-deps", str(wheel)], check=True)
    (folder / "cwd").mkdir()
    check_isolated(bin_, folder / "cwd")
    return bin_


def check_isolated(bin_: Path, cwd: Path) -> None:
    """The venv imports stsg_bench from its own site-packages, not from the checkout."""
    where = subprocess.run(
        [str(bin_ / "python"), "-c", "import stsg_bench; print(stsg_bench.__file__)"],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if not where.startswith(str(bin_.parent)) or where.startswith(str(ROOT)):
        raise RuntimeError(f"the wheel's venv imports stsg_bench from {where}, not from its own site-packages")


if __name__ == "__main__":
    build(Path(sys.argv[1]))
