"""Files that ship inside the package (and so in the wheel), found with :mod:`importlib.resources`:

- ``datasets/``: dataset cards (``stsg-bench case hawaii``, ``run hawaii``);
- ``baselines/``: each method's default config (``fuse --config starfm``);
- ``reference/``: the accuracy gate's run config, committed results and tolerances (``run gate``,
  ``check RESULTS`` without ``--reference``).

A name is looked up in the user's working folder first (``./datasets/NAME.toml``, so cards written by
``stsg-bench card new`` are found), then here; a path to an existing file is always taken as it is.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

KINDS = ("datasets", "baselines", "reference")


def folder(kind: str) -> Path:
    """The packaged folder of one kind (a real folder: the package is never installed zipped)."""
    if kind not in KINDS:
        raise ValueError(f"unknown resource kind {kind!r} (valid: {', '.join(KINDS)})")
    return Path(str(resources.files(__name__) / kind))


def search_path(kind: str) -> list[Path]:
    """Where a name of this kind is looked for, in order: ``./KIND`` then the packaged folder."""
    return [Path.cwd() / kind, folder(kind)]


def find(kind: str, name: str | Path) -> Path | None:
    """``name`` as an existing ``.toml`` path, else ``KIND/NAME.toml`` on the search path, else None."""
    p = Path(name)
    if p.suffix == ".toml" and p.is_file():
        return p
    if p.suffix or len(p.parts) != 1:
        return None
    for where in search_path(kind):
        cand = where / f"{name}.toml"
        if cand.is_file():
            return cand
    return None


def names(kind: str) -> list[str]:
    """The names of this kind on the search path (for 'known: ...' hints)."""
    return sorted({c.stem for where in search_path(kind) if where.is_dir() for c in where.glob("*.toml")})
