"""A test plug-in (``stsg-bench --plugin kill_after_first_chunk ...``, with this folder on PYTHONPATH): the
process dies with status 137, as if killed, right after it has written its first per-year chunk. The
resume tests use it instead of a hook in the package."""

import os

from stsg_bench.workflows import produce

_save_product = produce.save_product


def _save_then_die(*args, **kwargs):
    _save_product(*args, **kwargs)
    os._exit(137)


produce.save_product = _save_then_die
