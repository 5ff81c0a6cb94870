"""Multi-process DrcGAN training with torch DistributedDataParallel.

Launch with torchrun (one process per GPU, or several CPU processes with the gloo backend)::

    torchrun --nproc_per_node 2 -m stsg_bench.fusion.distributed --case case.nc --config demo --out ckpt.pt

Every rank builds the same case views and networks (same seed, so identical initial weights), samples
its own crops (sampling RNG seeded with seed + rank), and DDP averages gradients across ranks each step.
The generators are used twice per step (forward and reverse cycle), so DDP runs with ``static_graph``.
Rank 0 writes the checkpoint; single-process training (:class:`~stsg_bench.fusion.train.Trainer`) is
unchanged.
"""

from __future__ import annotations

import argparse
import logging
import os

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

from .checkpoint import save_checkpoint
from .config import DrcGanConfig, get_config
from .train import Trainer

log = logging.getLogger(__name__)


class DistributedTrainer(Trainer):
    """A :class:`Trainer` whose four networks are wrapped in DDP (process group must be initialised)."""

    def __init__(self, cfg: DrcGanConfig, case, train_period=None, device: str = "cpu"):
        super().__init__(cfg, case, train_period, device)
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        self.rng = np.random.default_rng([cfg.seed, 1000 + self.rank])  # each rank its own crops
        ids = [self.device.index] if self.device.type == "cuda" else None
        for name in ("G", "F", "D_S", "D_N"):
            setattr(self.nets, name, DDP(getattr(self.nets, name), device_ids=ids, static_graph=True))

    def state_dict(self) -> dict:
        state = super().state_dict()
        # checkpoints hold the plain (unwrapped) weights, loadable by single-process code
        state["nets"] = {k.replace(".module.", "."): v for k, v in state["nets"].items()}
        return state

    def load_state_dict(self, state: dict) -> None:
        nets = {}
        for k, v in state["nets"].items():
            head, rest = k.split(".", 1)
            nets[f"{head}.module.{rest}"] = v
        super().load_state_dict({**state, "nets": nets})


def setup_process_group(backend: str | None = None) -> str:
    """Initialise from torchrun's environment; returns the device string for this rank."""
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend)
    if backend == "nccl":
        local = int(os.environ.get("LOCAL_RANK", 0))
        torch.cuda.set_device(local)
        return f"cuda:{local}"
    return "cpu"


def train_distributed(
    case, cfg: DrcGanConfig, out, train_period=None, device: str = "cpu", progress: bool = False
) -> DistributedTrainer:
    trainer = DistributedTrainer(cfg, case, train_period, device)
    trainer.fit(progress=progress and trainer.rank == 0)
    if trainer.rank == 0 and out is not None:
        save_checkpoint(trainer, out, meta={"world_size": trainer.world})
    dist.barrier()
    return trainer


def main(argv: list[str] | None = None) -> int:
    from ..case import open_case

    ap = argparse.ArgumentParser(description="DrcGAN training with DistributedDataParallel (launch with torchrun)")
    ap.add_argument("--case", required=True)
    ap.add_argument("--config", default="demo")
    ap.add_argument("--out", required=True)
    ap.add_argument("--backend", default=None, help="gloo (CPU) or nccl (GPU); default by availability")
    ap.add_argument("--train-period", nargs=2, default=None)
    args = ap.parse_args(argv)
    device = setup_process_group(args.backend)
    try:
        train_distributed(
            open_case(args.case), get_config(args.config), args.out, args.train_period, device, progress=True
        )
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
