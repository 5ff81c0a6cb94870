"""DrcGAN as a reviewer would accept it: validation split and model selection, the learning-rate
schedule, an adversarial term acting in (simulated) gaps, ablations, seeds with a spread, the two
product modes, extent-independent inference and the determinism switch."""

import numpy as np
import pytest
import torch
import xarray as xr
from checkpoints import with_config

from stsg_bench.case import valid_smap
from stsg_bench.errors import ConfigError
from stsg_bench.fusion import Trainer, get_config
from stsg_bench.fusion.infer import FusionModel, predict_case
from stsg_bench.fusion.networks import lsgan_loss
from stsg_bench.fusion.tiling import blend_weights, tiled_apply, window_interior
from stsg_bench.gaps import persistent_blocks, validation_days
from stsg_bench.grid import Window
from stsg_bench.io.lazy import save_product
from stsg_bench.methods import get_method, list_methods

TRAIN, TEST = ("2017-01-01", "2017-02-28"), ("2017-03-01", "2017-04-30")


def test_validation_days_are_held_out_runs():
    held = validation_days(365, 0.15, 7, np.random.default_rng(0))
    assert held.sum() == round(0.15 * 365)
    starts = np.flatnonzero(np.diff(held.astype(int)) == 1) + 1
    assert len(starts) <= held.sum() / 7 + 2  # runs, not scattered days
    assert not validation_days(365, 0.0, 7, np.random.default_rng(0)).any()


def test_selection_keeps_the_best_validated_weights(tiny_case):
    tr = Trainer(get_config("test", steps=6, val_every=2), tiny_case, TRAIN).fit()
    held = np.setdiff1d(np.arange(len(tr.views[0].target)), tr.target_days)
    assert len(held) == tr.train_info["val_days"] > 0
    assert set(tr.validation.days) <= set(held)  # validation days are never training targets
    steps = [c["step"] for c in tr.curve]
    assert steps == [2, 4, 6]
    best = min(tr.curve, key=lambda c: c["val_rmse"])
    assert tr.selected["step"] == best["step"] == tr.train_info["selected_step"]
    model = FusionModel.from_state(tr.state_dict())
    for k, v in model.G.state_dict().items():
        assert torch.equal(v, tr.selected["G"][k]), k
    # the score is the inference code's own prediction against held-out SMAP
    assert tr.validation.rmse(model) == pytest.approx(best["val_rmse"], rel=1e-6)


def test_early_stopping_and_lr_schedule(tiny_case):
    tr = Trainer(get_config("test", steps=10, lr_decay_start=0.5), tiny_case, TRAIN)
    assert [tr.lr_factor(s) for s in (0, 4)] == [1.0, 1.0]
    f = [tr.lr_factor(s) for s in range(5, 10)]
    assert all(a > b > 0 for a, b in zip(f, f[1:]))
    tr = Trainer(get_config("test", steps=40, val_every=1, patience=1, lr=0.5), tiny_case, TRAIN).fit()
    assert tr.stopped_early and tr.step < 40  # a diverging learning rate stops at the first worse score


def test_adversarial_gradient_reaches_only_the_simulated_holes(tiny_case):
    tr = Trainer(get_config("test", batch_size=4), tiny_case, TRAIN)
    b = tr.sample_batch()
    assert b["hole"].any() and not (b["hole"] & ~b["valid"]).any()
    smap_hat = b["noah"].clone().requires_grad_(True)
    filled = torch.where(b["hole"], smap_hat, b["smap"])
    loss = lsgan_loss(tr.nets.D_S(tr._ds_input(filled, b["valid"], b["hole"])), True)
    (grad,) = torch.autograd.grad(loss, smap_hat)
    assert float(grad[~b["hole"]].abs().max()) == 0.0
    assert float(grad[b["hole"]].abs().max()) > 0.0


def test_persistent_gap_view_has_no_references_inside_its_blocks(tiny_case):
    """The 'persistent' view hides blocks of cells on every training day, so their inputs show no SMAP
    reference (the regime of cells inside long gaps) while SMAP still supervises them."""
    land = tiny_case["land"].values
    blocks = persistent_blocks(land, 0.3, np.random.default_rng(0))
    assert 0.3 <= (blocks & land).sum() / land.sum() < 0.3 + 25**2 / land.sum()
    tr = Trainer(get_config("test", persistent_gap_fraction=0.3), tiny_case, TRAIN)
    assert len(tr.views) == 3 and (tr.persistent & land).sum() >= 0.3 * land.sum()
    view = tr.views[2]
    Y, X = land.shape
    inside = np.zeros(view.padded, bool)
    inside[:Y, :X] = tr.persistent & land
    x = view.channels(np.arange(5, 40))
    for k in (4, 8):  # validity of the previous and of the next reference
        assert not x[:, k][:, inside].any()
        assert x[:, k][:, ~inside].any()
    assert view.target_valid[:, inside].any()  # supervised there all the same
    assert len(Trainer(get_config("test", persistent_gap_fraction=0.0), tiny_case, TRAIN).views) == 2


def test_same_day_context_hides_what_it_supervises(tiny_case):
    """same_day: the day's usable SMAP is an input channel; each crop hides a real gap shape from it
    and the L1 term supervises the hidden pixels (visible ones with visible_weight)."""
    tr = Trainer(get_config("test", same_day=True, batch_size=6, crop=16), tiny_case, TRAIN)
    assert tr.in_ch == 14
    b = tr.sample_batch()
    seen = b["x"][:, 10:11] > 0.5  # validity of the same-day SMAP channel
    assert b["hole"].any() and seen.any()
    assert not (seen & b["hole"]).any()  # a hole is never shown
    assert not (seen & ~b["valid"]).any()  # only usable SMAP is shown
    assert torch.equal(b["hole"] | seen, b["valid"])  # every usable pixel is either shown or a target
    shown = b["x"][:, 9:10][seen]
    norm = tr.norm
    torch.testing.assert_close(shown * norm.smap_std + norm.smap_mean, b["smap"][seen], rtol=0, atol=1e-5)
    # the generator learns at the hidden pixels: their loss moves, the shown ones only weigh visible_weight
    smap_hat = b["noah"].clone().requires_grad_(True)
    from stsg_bench.fusion.networks import masked_l1

    (g,) = torch.autograd.grad(masked_l1(smap_hat, b["smap"], b["hole"]), smap_hat)
    assert float(g[~b["hole"]].abs().max()) == 0.0
    m = get_method("drcgan", preset="test", steps=2, same_day=True).fit(tiny_case, TRAIN)
    p = m.predict(tiny_case, TEST)
    assert np.isfinite(p.values[:, tiny_case["land"].values]).all()


def test_ablations_are_registered_variants(tiny_case):
    assert {"drcgan", "drcgan_l1", "drcgan_nocycle"} <= set(list_methods())
    l1 = get_method("drcgan_l1", preset="test", steps=2)
    assert (l1.config.losses.lambda_adv, l1.config.losses.lambda_cyc, l1.config.losses.lambda_rev) == (0.0, 0.0, 0.0)
    with pytest.raises(ConfigError, match="fixed by the drcgan_l1 ablation"):
        get_method("drcgan_l1", lambda_adv=1.0)
    l1.fit(tiny_case, TRAIN)
    tr = l1.trainers[0]
    init = Trainer(tr.cfg, tiny_case, TRAIN).nets
    for name in ("F", "D_S", "D_N"):  # the L1 ablation trains G alone
        for k, v in getattr(tr.nets, name).state_dict().items():
            assert torch.equal(v, getattr(init, name).state_dict()[k]), (name, k)
    assert not torch.equal(tr.nets.G.head.weight, init.G.head.weight)
    nocycle = get_method("drcgan_nocycle", preset="test", steps=2).fit(tiny_case, TRAIN)
    assert not nocycle.trainers[0].use_f and nocycle.trainers[0].use_adv


def test_seeds_modes_and_spread(tiny_case, tmp_path):
    m = get_method("drcgan", preset="test", steps=2, seeds=3).fit(tiny_case, TRAIN)
    p = m.predict(tiny_case, TEST)
    extra = m.companions()
    assert set(extra) == {"drcgan:paper", "drcgan:seed0", "drcgan:seed1", "drcgan:seed2"}
    sub = tiny_case.sel(time=slice(*TEST))
    v, land = valid_smap(sub).values, sub["land"].values[None]
    gap = ~v & land
    members = np.stack([extra[f"drcgan:seed{k}"].values for k in range(3)])
    np.testing.assert_allclose(p.values[gap], members.mean(0)[gap], atol=1e-6)  # product = ensemble mean
    paper = extra["drcgan:paper"]
    assert paper.attrs["product_mode"] == "paper" and paper.attrs["smap_passthrough"] == 0
    np.testing.assert_array_equal(p.values[v], sub["smap"].values[v])  # gapfill keeps SMAP
    assert not np.array_equal(paper.values[v], sub["smap"].values[v])  # paper: the generator everywhere
    np.testing.assert_allclose(paper.values[gap], p.values[gap], atol=1e-6)
    spread = m.ancillary()["sm_spread"]
    np.testing.assert_allclose(spread.values[gap], members.std(0, ddof=1)[gap], atol=1e-6)
    assert np.isnan(spread.values[v]).all() and np.isnan(spread.values[:, ~sub["land"].values]).all()
    save_product(p, tmp_path / "p.nc", {}, m.ancillary())
    ds = xr.open_dataset(tmp_path / "p.nc")
    assert ds["sm"].attrs["ancillary_variables"] == "sm_spread" and ds["sm_spread"].attrs["units"] == "m3 m-3"
    with pytest.raises(Exception, match="seeds = 1"):
        m.save(tmp_path / "m.pt")
    paper_mode = get_method("drcgan", preset="test", steps=2, mode="paper").fit(tiny_case, TRAIN)
    pp = paper_mode.predict(tiny_case, TEST)
    assert pp.attrs["product_mode"] == "paper" and "drcgan:gapfill" in paper_mode.companions()


def test_blend_weights_are_a_partition_of_unity():
    w = blend_weights(16)
    s = w[:8] + w[8:]
    torch.testing.assert_close(s[:, :8] + s[:, 8:], torch.ones(8, 8))


def test_a_cell_does_not_depend_on_the_extent_of_its_domain():
    """Inside a 64 x 64 window and inside the whole 100 x 120 field the same cell gets the same value
    (tiles of 32 cells: the central cells of the window), while whole-field inference differs."""
    from stsg_bench.twin import generate_twin

    case = generate_twin("tiny", seed=1, window=Window(40, 140, 470, 590), ndays=30).case
    cfg = get_config("test", steps=1, crop=32, val_fraction=0.0)
    state = Trainer(cfg, case, ("2017-01-01", "2017-01-20")).state_dict()
    torch.manual_seed(0)
    for k, v in state["nets"].items():  # random weights everywhere (the trained head starts at zero)
        if k.startswith("G.") and v.is_floating_point():
            state["nets"][k] = torch.randn_like(v) * 0.3
    period = ("2017-01-21", "2017-01-30")
    r0, c0 = 21, 37
    window = case.isel(y=slice(r0, r0 + 64), x=slice(c0, c0 + 64))
    interior = np.outer(window_interior(40 + r0, 64, 32), window_interior(470 + c0, 64, 32))
    assert interior.sum() >= 16 * 16
    land = window["land"].values & interior
    for tiled, expect_equal in ((True, True), (False, False)):
        model = FusionModel.from_state(with_config(state, tiled=tiled))
        whole = predict_case(model, case, period)[:, r0 : r0 + 64, c0 : c0 + 64]
        part = predict_case(model, window, period)
        diff = float(np.abs(whole - part)[:, land].max())
        assert (diff <= 1e-4) == expect_equal, (tiled, diff)


def test_tiled_apply_matches_fn_on_constant_output():
    x = torch.zeros(2, 5, 13, 17)
    x[:, -3] = 1
    out = tiled_apply(lambda t: torch.full((t.shape[0], 1, 8, 8), 0.25), x, torch.zeros(2, 5), (7, 3), 8)
    torch.testing.assert_close(out, torch.full((2, 13, 17), 0.25))


def test_deterministic_switch_is_bitwise_repeatable_across_thread_counts(tiny_case):
    cfg = get_config("test", steps=4, batch_size=4, crop=24, deterministic=True)
    weights = []
    before = torch.get_num_threads()
    for n in (2, 1):
        torch.set_num_threads(n)
        weights.append(Trainer(cfg, tiny_case, TRAIN).fit().nets.state_dict())
        assert torch.get_num_threads() == n  # restored after the pinned block
    torch.set_num_threads(before)
    for k, v in weights[0].items():
        assert torch.equal(v, weights[1][k]), k
