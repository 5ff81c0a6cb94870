"""Reading TOML files (dataset cards, method/run/DrcGAN configs, gate tolerances) with one-line errors."""
from __future__ import annotations

import sys
from pathlib import Path

from ..errors import InputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def read_toml(path: str | Path, what: str = "file") -> dict:
    """Parse ``path``; a missing file or invalid TOML raises :class:`InputError` naming the file."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(path, f"no such {what}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(path, f"invalid TOML ({exc})") from None
