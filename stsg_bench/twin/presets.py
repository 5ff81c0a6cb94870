"""Size presets of the synthetic twin."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError
from ..grid import Window


@dataclass(frozen=True)
class TwinSpec:
    """What to generate. ``window`` is a slice of the global EASE2 M36 grid (so latitude, and hence the
    frozen season and the orbit's swath width, is real); ``land_fraction`` sets the synthetic land/sea
    mask; ``errors`` the observation error model: ``white`` (white SMAP noise, static biases) or
    ``realistic`` (errors correlated in space and time, orbit gaps: :mod:`stsg_bench.twin.realistic`)."""

    name: str
    window: Window
    start: str = "2017-01-01"
    ndays: int = 365
    n_stations: int = 20
    land_fraction: float = 0.7
    land_scale: float = 8.0  # smoothing of the land-mask noise (cells)
    spinup_days: int = 60
    lazy: bool = False  # generate day by day only (the global preset)
    train_end: str | None = None  # last day of the default training period
    errors: str = "white"  # observation error model: white | realistic

    def __post_init__(self) -> None:
        if self.errors not in ERROR_MODELS:
            raise ConfigError(f"unknown twin error model '{self.errors}' (valid: {', '.join(ERROR_MODELS)})")


ERROR_MODELS = ("white", "realistic")


PRESETS: dict[str, TwinSpec] = {
    # unit tests: < 1 s
    "tiny": TwinSpec("tiny", Window(60, 84, 500, 532), ndays=120, n_stations=6, train_end="2017-02-28"),
    # the CI accuracy gate: small enough to train DrcGAN in seconds; realistic errors
    "gate": TwinSpec(
        "gate", Window(56, 104, 500, 564), ndays=365, n_stations=16, train_end="2017-08-31", errors="realistic"
    ),
    # ~100 x 150 cells, two years, 40 stations, white-noise errors (the twin of the first releases)
    "small": TwinSpec("small", Window(50, 146, 480, 624), ndays=730, n_stations=40, train_end="2017-12-31"),
    # the demo default: the 'small' world with realistic errors and gaps
    "realistic": TwinSpec(
        "realistic", Window(50, 146, 480, 624), ndays=730, n_stations=40, train_end="2017-12-31", errors="realistic"
    ),
    # scale benchmarks: the whole grid, generated lazily day by day
    # (trained on its first 60 days, the case's own training period: fitting on half a global year would
    # dominate the benchmark)
    "global": TwinSpec(
        "global",
        Window(),
        ndays=365,
        n_stations=200,
        land_fraction=0.27,
        land_scale=18.0,
        lazy=True,
        train_end="2017-03-01",
    ),
}


def get_spec(name: str, **overrides) -> TwinSpec:
    if name not in PRESETS:
        raise ConfigError(f"unknown twin preset '{name}' (valid: {', '.join(PRESETS)})")
    spec = PRESETS[name]
    if overrides:
        from dataclasses import replace

        spec = replace(spec, **overrides)
    return spec
