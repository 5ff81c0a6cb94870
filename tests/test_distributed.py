"""DrcGAN training with DistributedDataParallel: two CPU processes, gloo backend."""

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank, world, port, case_path, out, result_dir, pretrain):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    from stsg_bench.case import open_case
    from stsg_bench.fusion import get_config
    from stsg_bench.fusion.distributed import setup_process_group, train_distributed

    setup_process_group("gloo")
    try:
        cfg = get_config("test", steps=4, pretrain_fraction=pretrain)
        tr = train_distributed(open_case(case_path), cfg, out)
        torch.save(tr.state_dict()["nets"], os.path.join(result_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(
    not dist.is_available() or not dist.is_gloo_available(), reason="torch.distributed with gloo not available"
)
@pytest.mark.slow  # spawns two torch.distributed processes
@pytest.mark.parametrize("pretrain", [0.0, 0.5])
def test_ddp_two_processes_gloo(tiny_case, tmp_path, pretrain):
    """Both ranks end with the same trained weights, also when G trains alone for the first steps
    (the DDP wrappers then meet a graph that changes once: G used once a step, then twice)."""
    from stsg_bench.case import save_case
    from stsg_bench.fusion import get_config, load_checkpoint
    from stsg_bench.fusion.train import Trainer

    save_case(tiny_case, tmp_path / "case.nc")
    mp.spawn(
        _worker,
        args=(2, _free_port(), str(tmp_path / "case.nc"), str(tmp_path / "ddp.pt"), str(tmp_path), pretrain),
        nprocs=2,
        join=True,
    )
    w0 = torch.load(tmp_path / "rank0.pt")
    w1 = torch.load(tmp_path / "rank1.pt")
    for k in w0:  # gradients were averaged: both ranks hold the same weights
        assert torch.equal(w0[k], w1[k]), k
    init = Trainer(get_config("test", steps=4), tiny_case).nets.state_dict()
    assert any(not torch.equal(init[k], w0[k]) for k in init)  # and they were trained
    state = load_checkpoint(tmp_path / "ddp.pt")  # rank 0's checkpoint loads in single-process code
    Trainer(get_config("test"), tiny_case).load_state_dict(state)
    assert state["meta"]["world_size"] == 2 and state["step"] == 4
