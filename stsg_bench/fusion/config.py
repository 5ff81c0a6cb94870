"""DrcGAN configuration, grouped as a reader meets it: :class:`Networks`, :class:`Views` (what the
generator sees and the training views built from it), :class:`Losses`, :class:`Optimiser`,
:class:`Selection` (validation and model selection), :class:`Inference` and :class:`Speed` (CUDA only),
plus the run-level ``seed`` and ``deterministic``. Three presets: ``paper`` (ngf 64, 9 residual blocks),
``demo`` (small enough to train on the ``realistic`` twin in about two minutes on two CPU cores) and
``test``.

In a TOML file or a run config each group is a table (``[config.optimiser]`` ``steps = 600``). Field
names are unique across the groups, so a setting may also be given by its own name (``steps = 600``,
``infer_batch = 4``: :data:`FLAT`), which is how keyword overrides spell them in Python
(``get_config("demo", steps=600)``); both spellings go through :func:`flat_values`, one set of type rules
(:func:`stsg_bench.configs.convert`) and the same one-line errors with closest-key hints.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..configs import check_ranges, closest, convert, field_types
from ..errors import ConfigError, InputError
from ..files import read_toml


@dataclass
class Networks:
    """Generators (ResNet) and PatchGAN discriminators."""

    ngf: int = 64  # generator width
    n_blocks: int = 9  # residual blocks per generator
    ndf: int = 64  # discriminator width
    d_layers: int = 3  # PatchGAN depth (3 -> 70x70 receptive field)
    norm: str = "instance"  # instance | batch | none
    max_sm: float = 0.7  # physical clamp of the output (m3 m-3)

    def __post_init__(self):
        if self.norm not in ("instance", "batch", "none"):
            raise ValueError(f"norm must be instance, batch or none, got {self.norm!r}")
        check_ranges(self, minimum={"ngf": 1, "n_blocks": 1, "ndf": 1, "d_layers": 1}, positive=("max_sm",))


@dataclass
class Views:
    """The generator's inputs and the training views (crops, simulated gaps) built from them."""

    two_sided: bool = True  # also use the next usable SMAP day (offline reprocessing)
    same_day: bool = False  # the day's own usable SMAP around a gap as input (training hides holes from it)
    max_ref_age: int = 60  # references older than this (days) count as missing
    climatology: bool = False  # per-cell offset (mean SMAP - Noah of its usable days) as an input
    crop: int = 128  # training crop (cells, a multiple of 4)
    min_land_fraction: float = 0.2  # crops with less land are drawn again
    sim_gap_fraction: float = 0.3  # share of usable SMAP hidden from the references of the 'thinned' view
    persistent_gap_fraction: float = 0.15  # share of the land hidden on every day in the 'persistent' view
    flips: bool = False  # each training crop under a random one of the square's 8 symmetries (CycleGAN flips)

    def __post_init__(self):
        if self.crop % 4:
            raise ValueError(f"crop must be a multiple of 4, got {self.crop}")
        check_ranges(
            self,
            minimum={"max_ref_age": 1, "crop": 8},
            fractions=("min_land_fraction", "sim_gap_fraction", "persistent_gap_fraction"),
        )


@dataclass
class Losses:
    """Loss weights (DESIGN.md defaults)."""

    lambda_rec: float = 100.0  # L1 reconstruction of hidden SMAP
    lambda_cyc: float = 10.0
    lambda_adv: float = 1.0
    lambda_rev: float = 10.0  # reverse cycle G(F(SMAP)) ~ SMAP on valid pixels
    visible_weight: float = 0.1  # same_day: weight of the L1 term on pixels whose SMAP the input shows
    rec_loss: str = "l1"  # the SMAP term's norm: l1 (pix2pix) | rmse (the root of the masked mean square)

    def __post_init__(self):
        if self.rec_loss not in ("l1", "rmse"):
            raise ValueError(f"rec_loss must be l1 or rmse, got {self.rec_loss!r}")
        check_ranges(self, minimum={k: 0 for k in field_types(Losses) if k != "rec_loss"})


@dataclass
class Optimiser:
    """Adam, CycleGAN's learning-rate schedule, optional L1 warm start and weight averaging."""

    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    steps: int = 20000
    batch_size: int = 8
    pretrain_fraction: float = 0.0  # share of the steps training G by L1 alone before the other terms join
    lr_decay_start: float = 0.5  # share of the steps at constant lr; then linear decay to 0 (CycleGAN)
    ema_decay: float = 0.0  # exponential moving average of G's weights (0: off; e.g. 0.99)
    #: the cycle and adversarial terms (and the discriminators' update) on every N-th step only, with their
    #: weights x N there, G's L1 term on every step: lazy, as StyleGAN2's lazy regularisation (1: every step)
    gan_every: int = 1

    def __post_init__(self):
        if self.ema_decay >= 1:
            raise ValueError(f"ema_decay must be below 1, got {self.ema_decay}")
        check_ranges(
            self,
            minimum={"steps": 1, "batch_size": 1, "gan_every": 1},
            positive=("lr",),
            fractions=("beta1", "beta2", "pretrain_fraction", "lr_decay_start", "ema_decay"),
        )


@dataclass
class Selection:
    """Model selection on validation days carved from the training period."""

    val_fraction: float = 0.15  # share of training days held out, in runs of val_run_days (0: no validation)
    val_run_days: int = 7
    val_max_days: int = 24  # validation days scored per evaluation (evenly spread over the held-out ones)
    val_every: int = 25  # steps between evaluations (and at the last step)
    patience: int = 0  # stop after this many evaluations without improvement (0: never stop early)
    #: select only among checkpoints after the L1 warm start (every term shaped their weights)
    select_after_pretrain: bool = False

    def __post_init__(self):
        check_ranges(
            self,
            minimum={"val_run_days": 1, "val_max_days": 1, "val_every": 1, "patience": 0},
            fractions=("val_fraction",),
        )


@dataclass
class Inference:
    """Prediction: whole fields or grid-anchored tiles, streamed in time chunks."""

    batch: int = 8  # days (or tiles / 4) per forward pass
    tiled: bool = False  # true: grid-anchored tiles (extent-independent, measured less accurate); false: whole fields
    tile: int = 0  # tile size (0: the training crop); tiles overlap by half and are anchored to the EASE2 grid
    chunk_days: int = 92  # streaming chunk; memory ~ (chunk + 2 * max_ref_age) days of inputs
    device_inputs: str = "auto"  # build inference inputs on the model's device: auto (on CUDA) | always | never
    tta: int = 1  # average the generator over the first N of the square's 8 symmetries (1: off; fusion.symmetry)

    def __post_init__(self):
        if self.tile % 4:
            raise ValueError(f"infer_tile must be 0 or a multiple of 4, got {self.tile}")
        if self.device_inputs not in ("auto", "always", "never"):
            raise ValueError(f"device_inputs must be auto, always or never, got {self.device_inputs!r}")
        if self.tta not in (1, 2, 4, 8):
            raise ValueError(f"tta must be 1, 2, 4 or 8, got {self.tta}")
        check_ranges(self, minimum={"batch": 1, "chunk_days": 1, "tile": 0})


@dataclass
class Speed:
    """CUDA speed options (ignored on CPU)."""

    bf16: bool = True
    channels_last: bool = True
    compile: bool = False


@dataclass
class DrcGanConfig:
    networks: Networks = field(default_factory=Networks)
    views: Views = field(default_factory=Views)
    losses: Losses = field(default_factory=Losses)
    optimiser: Optimiser = field(default_factory=Optimiser)
    selection: Selection = field(default_factory=Selection)
    inference: Inference = field(default_factory=Inference)
    speed: Speed = field(default_factory=Speed)
    seed: int = 0
    deterministic: bool = False  # pin torch to one thread while training/predicting: bitwise repeatable

    def __post_init__(self):
        check_ranges(self, minimum={"seed": 0})

    @property
    def tile(self) -> int:
        """Inference tile size (a multiple of 4, like every input of the generator)."""
        return self.inference.tile or self.views.crop

    def replace(self, **flat: Any) -> DrcGanConfig:
        """A copy with settings changed, by their names (:data:`FLAT`) or group tables; checked."""
        return build(self, flat_values(type(self), flat, "drcgan config"))


#: the groups of :class:`DrcGanConfig`
GROUPS: dict[str, type] = {
    "networks": Networks,
    "views": Views,
    "losses": Losses,
    "optimiser": Optimiser,
    "selection": Selection,
    "inference": Inference,
    "speed": Speed,
}
#: a setting's own name -> (group, field): the names are unique across groups (the inference group's
#: fields keep their ``infer_`` prefix here, where the group does not say it)
_RENAMED = {"infer_batch": "batch", "infer_tile": "tile", "infer_chunk_days": "chunk_days"}
FLAT: dict[str, tuple[str, str]] = {
    {v: k for k, v in _RENAMED.items()}.get(f, f) if g == "inference" else f: (g, f)
    for g, cls in GROUPS.items()
    for f in field_types(cls)
}


def flat_values(cls: type, values: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Settings of ``cls`` (:class:`DrcGanConfig` or a subclass) as ``{name: value}``, checked against
    their types: group tables (``optimiser = {steps = 600}``) are opened, names of :data:`FLAT` kept,
    the other top-level fields of ``cls`` kept; anything else is a ConfigError naming the closest key."""
    top = {k: t for k, t in field_types(cls).items() if k not in GROUPS}
    out: dict[str, Any] = {}

    def put(name: str, value: Any, at: str) -> None:
        if name in out:
            raise ConfigError(f"{at}: given twice (by its name and in its group table)")
        group, key = FLAT[name]
        out[name] = convert(field_types(GROUPS[group])[key], value, at)

    for key, value in values.items():
        key = str(key)
        if key in GROUPS:
            if dataclasses.is_dataclass(value) and not isinstance(value, type):  # a group object
                value = dataclasses.asdict(value)
            if not isinstance(value, Mapping):
                raise ConfigError(f"{where}.{key}: expected a table of {key} settings, got {value!r}")
            names = {f: n for n, (g, f) in FLAT.items() if g == key}
            for sub, v in value.items():
                if sub not in names:
                    raise ConfigError(
                        f"{where}.{key}: unknown key '{sub}'{closest(str(sub), names)} (valid: {', '.join(names)})"
                    )
                put(names[sub], v, f"{where}.{key}.{sub}")
        elif key in FLAT:
            put(key, value, f"{where}.{key}")
        elif key in top:
            out[key] = convert(top[key], value, f"{where}.{key}")
        else:
            valid = sorted([*GROUPS, *FLAT, *top])
            raise ConfigError(f"{where}: unknown key '{key}'{closest(key, valid)} (groups: {', '.join(GROUPS)})")
    return out


def build(base: DrcGanConfig, flat: Mapping[str, Any]) -> Any:
    """``base`` with the settings of ``flat`` (as :func:`flat_values` returns them) changed; the groups'
    own checks raise ConfigError."""
    changes: dict[str, dict[str, Any]] = {}
    top: dict[str, Any] = {}
    for name, value in flat.items():
        if name in FLAT:
            group, key = FLAT[name]
            changes.setdefault(group, {})[key] = value
        else:
            top[name] = value
    try:
        groups = {g: dataclasses.replace(getattr(base, g), **kw) for g, kw in changes.items()}
        return dataclasses.replace(base, **groups, **top)
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from None


def from_record(record: Mapping[str, Any], defaults: Mapping[str, Any] = {}) -> DrcGanConfig:
    """The config a checkpoint recorded: grouped (since version 5) or flat (older files), with
    ``defaults`` for settings older files predate."""
    return build(DrcGanConfig(), {**defaults, **flat_values(DrcGanConfig, record, "checkpoint config")})


PRESETS = {
    # CycleGAN flips its training images at random by default; the paper is silent, so its preset does too
    "paper": DrcGanConfig(views=Views(flips=True)),
    # Every term from the first step, as CycleGAN trains (no L1 warm start: every checkpoint model selection
    # can keep was shaped by the cycle and adversarial terms). 560 full steps fill the ~2-minute CPU budget
    # that 1,200 L1 + 300 full steps filled before (a full step costs ~4.5 L1 steps); lr 1e-3: at 2e-4 a
    # few hundred steps are far from converged (gap RMSE 0.0479 -> 0.0422 at 300 -> 600 steps, realistic
    # twin). The L1-warm-started schedule is the ``drcgan_warm`` variant (docs/methods.md, measured).
    "demo": DrcGanConfig(
        networks=Networks(ngf=16, n_blocks=3, ndf=16, d_layers=2),
        views=Views(crop=48, climatology=True),
        losses=Losses(lambda_adv=0.5),
        optimiser=Optimiser(steps=560, pretrain_fraction=0.0, batch_size=8, lr=1e-3),
        selection=Selection(val_every=40),
    ),
    "test": DrcGanConfig(
        networks=Networks(ngf=8, n_blocks=1, ndf=8, d_layers=1),
        views=Views(crop=16),
        optimiser=Optimiser(steps=4, batch_size=2),
    ),
}


def get_config(name_or_path: str | Path | None = "demo", **overrides) -> DrcGanConfig:
    """A preset name, or a TOML file with ``preset = "demo"`` (optional) and a ``[config]`` table (its
    group tables, or settings by name); ``overrides`` by name on top."""
    name_or_path = name_or_path or "demo"
    if str(name_or_path) in PRESETS:
        cfg = PRESETS[str(name_or_path)]
        table: Mapping[str, Any] = {}
    else:
        path = Path(name_or_path)
        if not path.is_file():
            if path.suffix or len(path.parts) > 1:
                raise InputError(path, "no such DrcGAN config file")
            raise ConfigError(f"unknown DrcGAN preset '{name_or_path}' (presets: {', '.join(PRESETS)}, or a TOML file)")
        data = read_toml(path, "DrcGAN config")
        preset = data.get("preset", "demo")
        if preset not in PRESETS:
            raise ConfigError(f"{path}: preset {preset!r} is not one of {', '.join(PRESETS)}")
        cfg = PRESETS[preset]
        table = data.get("config", {})
        if not isinstance(table, Mapping):
            raise InputError(path, "expected a [config] table of key = value", "config")
    values = {
        **flat_values(DrcGanConfig, table, "drcgan config"),
        **flat_values(DrcGanConfig, overrides, "drcgan config"),
    }
    try:
        return build(cfg, values)
    except ConfigError as exc:
        raise ConfigError(f"drcgan config: {exc}") from None
