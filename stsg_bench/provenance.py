"""Provenance: what made an output (software, commit, CPU kernels, configs, inputs), and which case it
belongs to, so that two runs can be told apart and a product is never scored against another case.

Paths in provenance are never absolute: inputs are named relative to the run folder, the data root or
the current folder (else by their file name), each with its size and SHA-256.
"""

from __future__ import annotations

import functools
import hashlib
import json
import platform
import re
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__, kernels
from .errors import ConfigError

PACKAGE_DIR = Path(__file__).resolve().parent
#: files above this size are identified by size and a hash of their first and last MiB (``sha256_ends``)
FULL_HASH_LIMIT = 256 * 2**20


@functools.lru_cache(maxsize=1)
def git_commit() -> str:
    """The commit of the checkout this package runs from (``-dirty`` with uncommitted changes to tracked
    files), or ``not a git checkout`` (an installed wheel, a tarball)."""
    try:
        run = functools.partial(subprocess.run, cwd=PACKAGE_DIR, capture_output=True, text=True, timeout=10)
        head = run(["git", "rev-parse", "HEAD"])
        if head.returncode != 0:
            return "not a git checkout"
        dirty = run(["git", "status", "--porcelain", "--untracked-files=no"]).stdout.strip()
        return head.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "not a git checkout"


def software() -> dict[str, Any]:
    """Versions and the CPU-kernel state that decide an output's bits."""
    import xarray

    info: dict[str, Any] = {
        "stsg_bench": __version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "xarray": xarray.__version__,
    }
    if "torch" in sys.modules:
        info["torch"] = sys.modules["torch"].__version__
    info["kernels"] = kernels.describe()
    return info


def relative_name(path: str | Path, roots: Iterable[str | Path | None] = ()) -> str:
    """``path`` relative to the first of ``roots`` (then the current folder) that holds it, else its name:
    never an absolute path of this machine."""
    p = Path(path).resolve()
    for root in [*roots, Path.cwd()]:
        if root is None:
            continue
        try:
            return p.relative_to(Path(root).resolve()).as_posix()
        except ValueError:
            continue
    return p.name


def _sha256(path: Path) -> tuple[str, str]:
    h = hashlib.sha256()
    size = path.stat().st_size
    with open(path, "rb") as f:
        if size <= FULL_HASH_LIMIT:
            for block in iter(lambda: f.read(2**20), b""):
                h.update(block)
            return "sha256", h.hexdigest()
        h.update(f.read(2**20))
        f.seek(size - 2**20)
        h.update(f.read(2**20))
        return "sha256_ends", h.hexdigest()


def file_identity(path: str | Path, roots: Sequence[str | Path | None] = ()) -> dict[str, Any]:
    """Name (relative), size and checksum of a file; of a folder: its regular files' count, total size and
    one SHA-256 over their relative names and checksums."""
    p = Path(path)
    ident: dict[str, Any] = {"name": relative_name(p, roots)}
    if p.is_file():
        kind, digest = _sha256(p)
        ident.update(size=p.stat().st_size, **{kind: digest})
    elif p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
        h = hashlib.sha256()
        for f in files:
            h.update(f"{f.relative_to(p).as_posix()}:{_sha256(f)[1]}\n".encode())
        ident.update(files=len(files), size=sum(f.stat().st_size for f in files), sha256=h.hexdigest())
    else:
        ident["missing"] = True
    return ident


def case_fingerprint(case) -> str:
    """A short hash of what ties a product to its case: the EASE2 window (row/col numbers), the days and
    the land mask. Two cases share it only if their products are interchangeable cell by cell."""
    h = hashlib.sha256()
    for c in ("row", "col"):
        h.update(np.asarray(case[c].values, dtype=np.int64).tobytes())
    days = np.asarray(case.indexes["time"].values, dtype="datetime64[D]").astype(np.int64)
    h.update(days.tobytes())
    h.update(np.ascontiguousarray(np.asarray(case["land"].values, dtype=bool)).tobytes())
    return h.hexdigest()[:16]


def case_content_hash(case, block_days: int = 64) -> str:
    """A short hash of a case's values (every data variable except the twin's hidden truth, in name order,
    as float32 bytes, read ``block_days`` days at a time): two cases share it only if a method sees the same
    numbers in both. One streaming pass; used where a product is kept across runs (resumed chunks)."""
    h = hashlib.sha256()
    for name in sorted(str(v) for v in case.data_vars):
        var = case[name]
        if name == "truth" or (not np.issubdtype(var.dtype, np.number) and var.dtype != bool):
            continue
        h.update(f"{name}{var.dims}".encode())
        n = var.sizes.get("time", 0)
        blocks = range(0, n, block_days) if "time" in var.dims else [None]
        for i in blocks:
            part = var if i is None else var.isel(time=slice(i, i + block_days))
            h.update(np.ascontiguousarray(np.asarray(part.values, dtype=np.float32)).tobytes())
    return h.hexdigest()[:16]


_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


def check_product_name(name: object, taken: Iterable[str] = (), where: str = "name") -> str:
    """A product name from a card, run config or option, fit to become a file name and a label: a letter,
    then letters, digits, ``_`` or ``-`` (at most 64; no separators, dots, ``:`` or ``..``), and not one
    of ``taken`` (method names and the companions ``NAME:TAG`` they make). Raises ConfigError."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError(
            f"{where}: product name {name!r} must start with a letter and hold only letters, digits, '_' or '-' "
            "(at most 64; it becomes a file name)"
        )
    if name in set(taken):
        raise ConfigError(f"{where}: product name '{name}' is already a method's name; choose another")
    return name


def to_attr(record: dict[str, Any]) -> str:
    """A provenance record as one netCDF attribute (JSON, keys sorted)."""
    return json.dumps(record, sort_keys=True, default=str)


def from_attr(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}
