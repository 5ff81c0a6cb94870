"""DrcGAN fusion-core throughput: generator inference (fields/s), one training step, streaming peak
memory and FLOPs per field (for the roofline: achieved FLOP/s = FLOPs per field x fields/s)."""

import torch
from torch.utils import benchmark as tb

from stsg_bench.fusion.config import PRESETS
from stsg_bench.fusion.inputs import n_channels, pad4
from stsg_bench.fusion.networks import ResnetGenerator

from .common import DEVICES, TIERS, require, sync


def in_channels(config: str) -> int:
    """Input channels of a preset's generator (the demo's offset channels included)."""
    cfg = PRESETS[config]
    return n_channels(cfg.views.two_sided, cfg.views.same_day, cfg.views.climatology)


def _generator(config: str, device, channels_last: bool):
    cfg = PRESETS[config]
    g = (
        ResnetGenerator(in_channels(config), 1, cfg.networks.ngf, cfg.networks.n_blocks, cfg.networks.norm)
        .to(device)
        .eval()
    )
    if channels_last and device.type == "cuda":
        g = g.to(memory_format=torch.channels_last)
    return g


class GeneratorInference:
    """Fields per second of the forward generator on whole padded fields (406 -> 408 rows globally)."""

    params = (DEVICES, ["tiny", "regional", "global"], ["demo", "paper"], ["fp32", "bf16"], [1, 8])
    param_names = ["device", "tier", "config", "dtype", "batch"]
    timeout = 600

    def setup(self, device, tier, config, dtype, batch):
        dev = require(device)
        if dtype == "bf16" and dev.type != "cuda":
            raise NotImplementedError("bf16 autocast is benchmarked on CUDA only")
        if dev.type == "cpu" and tier == "global" and (config == "paper" and batch > 1):
            raise NotImplementedError("too slow for a CPU benchmark run")
        Y, X = TIERS[tier]
        self.dev = dev
        self.g = _generator(config, dev, True)
        self.x = torch.randn(batch, in_channels(config), pad4(Y), pad4(X), device=dev)
        if dev.type == "cuda":
            self.x = self.x.contiguous(memory_format=torch.channels_last)
        self.ctx = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if dtype == "bf16" else torch.no_grad
        self.batch = batch

    def _run(self):
        with torch.no_grad(), self.ctx():
            self.g(self.x)

    def track_fields_per_second(self, *args):
        self._run()  # warm-up
        sync(self.dev)
        t = tb.Timer(stmt="f(); s()", globals={"f": self._run, "s": lambda: sync(self.dev)})
        m = t.blocked_autorange(min_run_time=1.0)
        return self.batch / m.median

    track_fields_per_second.unit = "fields/s"

    def track_gflop_per_field(self, *args):
        from torch.utils.flop_counter import FlopCounterMode

        with FlopCounterMode(display=False) as fc:
            with torch.no_grad():
                self.g(self.x[:1].float() if self.x.dtype != torch.float32 else self.x[:1])
        return fc.get_total_flops() / 1e9

    track_gflop_per_field.unit = "GFLOP"


class TrainStep:
    """One DrcGAN training step (G + F forward/backward, both discriminators) on a regional crop batch."""

    params = (DEVICES, ["demo", "paper"])
    param_names = ["device", "config"]
    timeout = 600

    def setup(self, device, config):
        require(device)
        from stsg_bench.fusion import Trainer, get_config
        from stsg_bench.twin import generate_twin

        case = generate_twin("tiny", seed=0).case
        crop = 16 if device == "cpu" and config == "paper" else 32
        cfg = get_config(config, crop=crop, batch_size=4, sim_gap_fraction=0.0, persistent_gap_fraction=0.0)
        self.tr = Trainer(cfg, case, device=device)
        self.batch = self.tr.sample_batch()
        self.tr._train_step(self.batch)

    def time_train_step(self, device, config):
        self.tr._train_step(self.batch)
        sync(self.tr.device)


class StreamingInference:
    """Peak memory of streaming DrcGAN inference (demo config) over 30 days of a regional field."""

    params = [["demo"]]
    param_names = ["config"]

    def setup(self, config):
        from stsg_bench.fusion import Trainer, get_config
        from stsg_bench.twin import generate_twin

        self.case = generate_twin("tiny", seed=0, ndays=90).case
        tr = Trainer(get_config(config, steps=1, crop=16, batch_size=2), self.case)
        from stsg_bench.fusion.infer import FusionModel

        self.model = FusionModel.from_state(tr.state_dict())

    def peakmem_stream_30_days(self, config):
        from stsg_bench.fusion.infer import predict_case

        predict_case(self.model, self.case, ("2017-02-01", "2017-03-02"))
