"""One-file DrcGAN checkpoints: weights of all four networks, optimiser and RNG states (for resuming),
the config, the normalisation statistics and training metadata. Written atomically; loaded with
``torch.load(weights_only=True)`` (plain tensors and Python values only)."""

from __future__ import annotations

from pathlib import Path

import torch

from .. import __version__
from ..errors import InputError
from ..files import atomic_path

FORMAT = "stsg-bench-drcgan"
#: 2: a 3-channel D_S, the selected generator and the validation curve; 3: config keys ``same_day``,
#: ``visible_weight``, ``persistent_gap_fraction`` (older files load with ``same_day = false``);
#: 4: ``climatology`` (the per-cell offset channels) and ``pretrain_fraction`` (older: ``climatology = false``)
#: 5: the config grouped (``networks``, ``views``, ... : :mod:`stsg_bench.fusion.config`; older files are flat)
VERSION = 5
READS = (1, 2, 3, 4, 5)


def save_checkpoint(trainer, path: str | Path, meta: dict | None = None) -> Path:
    state = trainer.state_dict()
    state.update({"format": FORMAT, "version": VERSION, "software": f"stsg-bench {__version__}", "meta": meta or {}})
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return Path(path)


def load_checkpoint(path: str | Path) -> dict:
    """Read and check a checkpoint; returns its state dict."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InputError(path, "no such checkpoint") from None
    except Exception as exc:
        raise InputError(path, f"not a readable checkpoint ({type(exc).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise InputError(path, "not an stsg-bench DrcGAN checkpoint", "format")
    if int(state.get("version", -1)) not in READS:
        raise InputError(
            path,
            f"checkpoint version {state.get('version')} (this stsg-bench reads {', '.join(map(str, READS))})",
            "version",
        )
    for key in ("nets", "config", "norm", "in_ch", "step"):
        if key not in state:
            raise InputError(path, "checkpoint holds no trained weights (incomplete file?)", key)
    if not isinstance(state["nets"], dict) or not any(str(k).startswith("G.") for k in state["nets"]):
        raise InputError(path, "checkpoint holds no generator weights", "nets")
    selected = state.get("selected") or {}
    for where, tensors in (("nets", state["nets"]), ("selected", selected.get("G") or {})):
        bad = [k for k, v in tensors.items() if not isinstance(v, torch.Tensor) or not bool(torch.isfinite(v).all())]
        if bad:
            raise InputError(path, f"{len(bad)} weight tensor(s) are not finite numbers (e.g. {bad[0]})", where)
    return state
