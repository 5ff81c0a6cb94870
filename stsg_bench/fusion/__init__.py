"""DrcGAN: the deep residual cycle GAN that fuses SMAP L3 with GLDAS Noah (Jiang et al. 2025, JAG
139:104517), reconstructed as described in the README and ``shared/DESIGN.md`` section 2.

``config`` (dataclass + the ``paper``/``demo`` presets) -> ``networks`` (ResNet generators, PatchGAN) ->
``inputs`` (reference composites, channels, normalisation) -> ``train`` -> ``checkpoint`` -> ``infer``.
"""

from .checkpoint import load_checkpoint, save_checkpoint
from .config import PRESETS, DrcGanConfig, get_config
from .infer import predict_case
from .train import Trainer

__all__ = ["PRESETS", "DrcGanConfig", "get_config", "load_checkpoint", "save_checkpoint", "predict_case", "Trainer"]
