"""The synthetic twin: a seeded small world on an EASE-Grid 2.0 M36 window where the truth is known.

``generate_twin("small", seed=0)`` returns a :class:`~stsg_bench.twin.generate.Twin` (a fusion case with a
``truth`` variable, plus hourly in-situ stations); ``write_twin`` writes ``case.nc`` and ISMN files.
"""

from .generate import Twin, generate_twin, write_twin, write_twin_chunked
from .presets import PRESETS, TwinSpec, get_spec
from .world import TwinWorld

__all__ = ["PRESETS", "TwinSpec", "get_spec", "Twin", "TwinWorld", "generate_twin", "write_twin", "write_twin_chunked"]
