"""DrcGAN configuration: one dataclass, two presets (``paper``: ngf 64, 9 residual blocks; ``demo``: small
enough to train on the ``small`` twin in under two minutes on two CPU cores)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from ..configs import check_ranges, typed_values
from ..errors import ConfigError, InputError
from ..files import read_toml


@dataclass
class DrcGanConfig:
    # networks
    ngf: int = 64  # generator width
    n_blocks: int = 9  # residual blocks per generator
    ndf: int = 64  # discriminator width
    d_layers: int = 3  # PatchGAN depth (3 -> 70x70 receptive field)
    norm: str = "instance"  # instance | batch | none
    two_sided: bool = True  # also use the next usable SMAP day (offline reprocessing)
    same_day: bool = False  # the day's own usable SMAP around a gap as input (training hides holes from it)
    max_ref_age: int = 60  # references older than this (days) count as missing
    max_sm: float = 0.7  # physical clamp of the output (m3 m-3)
    climatology: bool = False  # per-cell offset (mean SMAP - Noah of its usable days) as an input
    # losses (DESIGN defaults)
    lambda_rec: float = 100.0
    lambda_cyc: float = 10.0
    lambda_adv: float = 1.0
    lambda_rev: float = 10.0  # reverse cycle G(F(SMAP)) ~ SMAP on valid pixels
    # optimisation
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    steps: int = 20000
    batch_size: int = 8
    crop: int = 128
    min_land_fraction: float = 0.2
    sim_gap_fraction: float = 0.3  # share of usable SMAP hidden from the references of the 'thinned' view
    persistent_gap_fraction: float = 0.15  # share of the land hidden on every day in the 'persistent' view
    visible_weight: float = 0.1  # same_day: weight of the L1 term on pixels whose SMAP the input shows
    seed: int = 0
    pretrain_fraction: float = 0.0  # share of the steps training G by L1 alone before the other terms join
    #: model selection only among checkpoints after the L1 warm start (every term shaped their weights)
    select_after_pretrain: bool = False
    lr_decay_start: float = 0.5  # share of the steps at constant lr; then linear decay to 0 (CycleGAN)
    ema_decay: float = 0.0  # exponential moving average of G's weights (0: off; e.g. 0.99)
    # model selection (validation carved from the training period)
    val_fraction: float = 0.15  # share of training days held out, in runs of val_run_days (0: no validation)
    val_run_days: int = 7
    val_max_days: int = 24  # validation days scored per evaluation (evenly spread over the held-out ones)
    val_every: int = 25  # steps between evaluations (and at the last step)
    patience: int = 0  # stop after this many evaluations without improvement (0: never stop early)
    deterministic: bool = False  # pin torch to one thread while training/predicting: bitwise repeatable
    # speed (CUDA only; ignored on CPU)
    bf16: bool = True
    channels_last: bool = True
    compile: bool = False
    # inference
    infer_batch: int = 8
    tiled: bool = False  # true: grid-anchored tiles (extent-independent, measured less accurate); false: whole fields
    infer_tile: int = 0  # tile size (0: crop); tiles overlap by half and are anchored to the EASE2 grid
    infer_chunk_days: int = 92  # streaming chunk; memory ~ (chunk + 2 * max_ref_age) days of inputs
    device_inputs: str = "auto"  # build inference inputs on the model's device: auto (on CUDA) | always | never

    def __post_init__(self):
        if self.crop % 4:
            raise ValueError(f"crop must be a multiple of 4, got {self.crop}")
        if self.infer_tile % 4:
            raise ValueError(f"infer_tile must be 0 or a multiple of 4, got {self.infer_tile}")
        if self.ema_decay >= 1:
            raise ValueError(f"ema_decay must be below 1, got {self.ema_decay}")
        if self.norm not in ("instance", "batch", "none"):
            raise ValueError(f"norm must be instance, batch or none, got {self.norm!r}")
        if self.device_inputs not in ("auto", "always", "never"):
            raise ValueError(f"device_inputs must be auto, always or never, got {self.device_inputs!r}")
        check_ranges(
            self,
            minimum={
                "ngf": 1,
                "n_blocks": 1,
                "ndf": 1,
                "d_layers": 1,
                "max_ref_age": 1,
                "steps": 1,
                "batch_size": 1,
                "crop": 8,
                "infer_batch": 1,
                "infer_chunk_days": 1,
                "seed": 0,
                "val_run_days": 1,
                "val_max_days": 1,
                "val_every": 1,
                "patience": 0,
                "infer_tile": 0,
                "lambda_rec": 0,
                "lambda_cyc": 0,
                "lambda_adv": 0,
                "lambda_rev": 0,
                "visible_weight": 0,
            },
            positive=("lr", "max_sm"),
            fractions=(
                "min_land_fraction",
                "sim_gap_fraction",
                "persistent_gap_fraction",
                "beta1",
                "beta2",
                "lr_decay_start",
                "pretrain_fraction",
                "ema_decay",
                "val_fraction",
            ),
        )

    @property
    def tile(self) -> int:
        """Inference tile size (a multiple of 4, like every input of the generator)."""
        return self.infer_tile or self.crop


PRESETS = {
    "paper": DrcGanConfig(),
    # Every term from the first step, as CycleGAN trains (no L1 warm start: every checkpoint model selection
    # can keep was shaped by the cycle and adversarial terms). 560 full steps fill the ~2-minute CPU budget
    # that 1,200 L1 + 300 full steps filled before (a full step costs ~4.5 L1 steps); lr 1e-3: at 2e-4 a
    # few hundred steps are far from converged (gap RMSE 0.0479 -> 0.0422 at 300 -> 600 steps, realistic
    # twin). The L1-warm-started schedule is the ``drcgan_warm`` variant (docs/methods.md, measured).
    "demo": DrcGanConfig(
        ngf=16,
        n_blocks=3,
        ndf=16,
        d_layers=2,
        steps=560,
        pretrain_fraction=0.0,
        val_every=40,
        batch_size=8,
        crop=48,
        lambda_adv=0.5,
        lr=1e-3,
        climatology=True,
    ),
    "test": DrcGanConfig(ngf=8, n_blocks=1, ndf=8, d_layers=1, steps=4, batch_size=2, crop=16),
}


def get_config(name_or_path: str | Path | None = "demo", **overrides) -> DrcGanConfig:
    """A preset name, or a TOML file with ``preset = "demo"`` (optional) and a ``[config]`` table."""
    name_or_path = name_or_path or "demo"
    if str(name_or_path) in PRESETS:
        cfg = PRESETS[str(name_or_path)]
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
        overrides = {**data.get("config", {}), **overrides}
    values = typed_values(DrcGanConfig, overrides, "drcgan config")
    try:
        return dataclasses.replace(cfg, **values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"drcgan config: {exc}") from None
