"""Progress bars on a terminal only.

Library code asks for a bar with :func:`bar` wherever it was told ``progress=True``; whether one is drawn
is decided here, once per process: by default only when standard error is a terminal (a log redirected to
a file or a CI job gets none of tqdm's redraws), or as the command line's ``--progress`` /
``--no-progress`` / ``--quiet`` set with :func:`configure`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any, TypeVar, cast

T = TypeVar("T", bound=Iterable)

#: True / False: forced on / off; None: on a terminal only
_FORCED: bool | None = None


def configure(enabled: bool | None) -> None:
    """Force bars on (True) or off (False), or back to "on a terminal only" (None)."""
    global _FORCED
    _FORCED = enabled


def enabled() -> bool:
    if _FORCED is not None:
        return _FORCED
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


def bar(items: T, **kwargs: Any) -> T:
    """``items`` wrapped in a tqdm bar when bars are on (:func:`enabled`), else ``items`` itself (the bar
    iterates exactly as ``items`` does; typed as it for the callers)."""
    if not enabled():
        return items
    from tqdm.auto import tqdm

    return cast(T, tqdm(items, **kwargs))
