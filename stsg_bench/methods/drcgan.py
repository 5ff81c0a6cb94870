"""DrcGAN behind the common method interface (the model itself lives in :mod:`stsg_bench.fusion`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import xarray as xr

from ..errors import MethodError
from ..fusion.checkpoint import load_checkpoint, save_checkpoint
from ..fusion.config import PRESETS, DrcGanConfig
from ..fusion.infer import FusionModel, predict_case
from ..fusion.train import Trainer
from .base import Method, register


@dataclass
class DrcGanMethodConfig(DrcGanConfig):
    passthrough: bool = True
    device: str = "cpu"
    checkpoint: str | None = None  # load instead of training
    preset: str = "demo"  # the config preset the other fields override

    def __post_init__(self):
        super().__post_init__()


def drcgan_method_config(preset: str = "demo", **overrides) -> DrcGanMethodConfig:
    base = dataclasses.asdict(PRESETS[preset])
    return DrcGanMethodConfig(**{**base, "preset": preset, **overrides})


@register
class DrcGan(Method):
    name = "drcgan"
    order = 80
    supports_checkpoint = True
    Config = DrcGanMethodConfig
    description = "DrcGAN deep residual cycle GAN fusion of SMAP and Noah (Jiang et al. 2025), torch"
    needs_fit = True

    def __init__(self, config=None, **overrides):
        if config is None:
            config = drcgan_method_config()
        super().__init__(config, **overrides)
        self.trainer: Trainer | None = None
        self.model: FusionModel | None = None
        if self.config.checkpoint:
            self.load(self.config.checkpoint)

    @classmethod
    def make_config(cls, **config) -> DrcGanMethodConfig:
        """Overrides apply on top of the preset named by ``preset`` (default 'demo')."""
        preset = config.pop("preset", "demo")
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r} (valid: {', '.join(PRESETS)})")
        return drcgan_method_config(preset, **config)

    @property
    def halo_days(self) -> int:
        return int(self.config.max_ref_age)

    def _model_config(self) -> DrcGanConfig:
        fields = {f.name for f in dataclasses.fields(DrcGanConfig)}
        return DrcGanConfig(**{k: v for k, v in dataclasses.asdict(self.config).items() if k in fields})

    def _fit_case(self, case: xr.Dataset, train: xr.Dataset, period, progress: bool) -> None:
        """Train on the training period; inputs draw on SMAP references from the whole case, as at
        prediction time (the case has no truth here: the base class removed it)."""
        if self.model is not None and self.config.checkpoint:
            return  # loaded from a checkpoint: nothing to train
        self.trainer = Trainer(self._model_config(), case, period, self.config.device).fit(progress=progress)
        self.model = FusionModel.from_state(self.trainer.state_dict(), self.config.device)
        self.fit_info = dict(self.trainer.train_info, steps=self.trainer.step)

    def _predict(self, case, out):
        return predict_case(self.model, case, (str(out["time"].values[0])[:10], str(out["time"].values[-1])[:10]))

    def save(self, path: str | Path) -> Path:
        if self.trainer is None:
            raise MethodError("drcgan: nothing trained to save")
        return save_checkpoint(self.trainer, path, meta={"method": self.name})

    def load(self, path: str | Path) -> DrcGan:
        state = load_checkpoint(path)
        self.model = FusionModel.from_state(state, self.config.device)
        self.fit_info = dict(state.get("train_info", {}), steps=int(state["step"]), checkpoint=str(path))
        self.fitted = True
        return self
