import numpy as np
import pytest
import torch
from checkpoints import with_config

from stsg_bench.case import valid_smap
from stsg_bench.errors import ConfigError, MethodError
from stsg_bench.fusion import Trainer, get_config, load_checkpoint, save_checkpoint, symmetry
from stsg_bench.fusion.config import FLAT
from stsg_bench.fusion.infer import FusionModel, predict_case
from stsg_bench.fusion.inputs import (
    MIN_OFFSET_DAYS,
    InputBuilder,
    Normalizer,
    case_offset,
    cell_offset,
    offset_channels,
    pad4,
)
from stsg_bench.fusion.networks import PatchDiscriminator, ResnetGenerator, masked_l1, masked_rmse
from stsg_bench.methods import get_method

TRAIN, TEST = ("2017-01-01", "2017-02-28"), ("2017-03-01", "2017-04-30")


def test_generator_shapes_and_padding():
    g = ResnetGenerator(12, 1, ngf=8, n_blocks=2)
    x = torch.randn(2, 12, pad4(406), pad4(30))
    assert pad4(406) == 408
    assert g(x).shape == (2, 1, 408, 32)
    d = PatchDiscriminator(2, 8, 3)
    assert d(torch.randn(1, 2, 64, 64)).shape[1] == 1


def test_zero_residual_returns_noah(tiny_case):
    tr = Trainer(get_config("test"), tiny_case, TRAIN)
    b = tr.sample_batch()
    out = tr.forward_g(b["x"], b["noah"])  # untrained: zero-initialised head
    torch.testing.assert_close(out, b["noah"].clamp(0, 0.7))


def test_masked_loss_ignores_gaps():
    pred = torch.tensor([[0.1, 0.5, 9.0]])
    target = torch.tensor([[0.2, 0.5, 0.0]])
    mask = torch.tensor([[True, True, False]])
    assert float(masked_l1(pred, target, mask)) == pytest.approx(0.05)
    assert float(masked_rmse(pred, target, mask)) == pytest.approx(np.sqrt(0.1**2 / 2), rel=1e-5)


def test_rmse_reconstruction_term_replaces_l1(tiny_case, monkeypatch):
    """``rec_loss = "rmse"``: G's SMAP term is :func:`masked_rmse` (the value the history records), the
    default calls it not at all; any other name is a one-line config error."""
    import stsg_bench.fusion.train as train_mod

    seen: list[float] = []
    real = train_mod.masked_rmse
    monkeypatch.setattr(train_mod, "masked_rmse", lambda *a: seen.append(float(real(*a))) or real(*a))
    Trainer(get_config("test", steps=1), tiny_case, TRAIN).train_step()
    assert seen == []
    h = Trainer(get_config("test", steps=1, rec_loss="rmse"), tiny_case, TRAIN).train_step()
    assert len(seen) == 1 and h["rec"] == pytest.approx(seen[0], rel=1e-5)
    with pytest.raises(ConfigError, match="rec_loss must be l1 or rmse"):
        get_config("demo", rec_loss="l2")


def test_input_builder_channels(tiny_case):
    norm = Normalizer.fit(tiny_case)
    b = InputBuilder(tiny_case, norm, two_sided=True)
    x = b.channels(np.array([5, 6]))
    assert x.shape == (2, 12, 24, 32) and np.isfinite(x).all()
    np.testing.assert_array_equal(x[0, -3], b.land)
    one = InputBuilder(tiny_case, norm, two_sided=False)
    assert one.n_channels == 8
    same = InputBuilder(tiny_case, norm, two_sided=True, same_day=True)
    xs = same.channels(np.array([5, 6]))
    assert xs.shape == (2, 14, 24, 32)
    np.testing.assert_array_equal(xs[:, :9], x[:, :9])  # the references, then the day's own SMAP
    np.testing.assert_array_equal(xs[:, -3:], x[:, -3:])
    v = valid_smap(tiny_case).values[[5, 6]]
    Y, X = v.shape[1:]
    np.testing.assert_array_equal(xs[:, 10, :Y, :X], v)
    smap = tiny_case["smap"].values[[5, 6]]
    np.testing.assert_allclose(xs[:, 9, :Y, :X][v], ((smap - norm.smap_mean) / norm.smap_std)[v], rtol=1e-6)
    assert not xs[:, 9, :Y, :X][~v].any()
    hide = np.zeros((2, 24, 32), bool)
    hide[:, :8] = True
    hidden = same.channels(np.array([5, 6]), hide=hide)
    assert not hidden[:, 9:11, :8].any()
    np.testing.assert_array_equal(hidden[:, 9:11, 8:], xs[:, 9:11, 8:])


def test_training_reduces_loss_on_fixed_batch(tiny_case):
    tr = Trainer(get_config("test", lr=2e-3), tiny_case, TRAIN)
    batch = tr.sample_batch()
    first = None
    for _ in range(25):
        losses = {k: float(v) for k, v in tr._train_step(batch).items()}
        first = first or losses["rec"]
    assert losses["rec"] < 0.8 * first


def test_same_seed_same_weights_and_resume(tiny_case, tmp_path):
    cfg = get_config("test", steps=4)
    a = Trainer(cfg, tiny_case, TRAIN).fit()
    b = Trainer(cfg, tiny_case, TRAIN).fit()
    for k, v in a.nets.state_dict().items():
        assert torch.equal(v, b.nets.state_dict()[k]), k
    # 2 steps, checkpoint, resume 2 steps == 4 steps straight
    c = Trainer(cfg, tiny_case, TRAIN).fit(2)
    save_checkpoint(c, tmp_path / "c.pt")
    d = Trainer(cfg, tiny_case, TRAIN)
    d.load_state_dict(load_checkpoint(tmp_path / "c.pt"))
    d.fit(2)
    for k, v in a.nets.state_dict().items():
        assert torch.equal(v, d.nets.state_dict()[k]), k


def test_checkpoint_roundtrip_identical_predictions(tiny_case, tmp_path):
    m = get_method("drcgan", preset="test", steps=3).fit(tiny_case, TRAIN)
    p1 = m.predict(tiny_case, TEST)
    m.save(tmp_path / "m.pt")
    m2 = get_method("drcgan", checkpoint=str(tmp_path / "m.pt"))
    p2 = m2.fit(tiny_case, TRAIN).predict(tiny_case, TEST)
    assert p1.values.tobytes() == p2.values.tobytes()
    state = load_checkpoint(tmp_path / "m.pt")
    assert state["config"]["networks"]["ngf"] == 8 and "smap_std" in state["norm"] and state["step"] == 3


def test_checkpoint_written_before_same_day_context_still_predicts(tiny_case, tmp_path):
    """Checkpoints with a flat config (before version 5) load as the grouped one; those from before the
    same-day channels (no such config keys) load as 12-channel models."""
    tr = Trainer(get_config("test", steps=1), tiny_case, TRAIN).fit()
    save_checkpoint(tr, tmp_path / "old.pt")
    state = load_checkpoint(tmp_path / "old.pt")
    grouped = FusionModel.from_state(state)
    flat = {name: state["config"][group][key] for name, (group, key) in FLAT.items()}
    state["config"] = {**flat, "seed": state["config"]["seed"], "deterministic": state["config"]["deterministic"]}
    assert FusionModel.from_state(state).cfg == grouped.cfg
    for key in ("same_day", "visible_weight", "persistent_gap_fraction", "climatology", "pretrain_fraction"):
        del state["config"][key]
    model = FusionModel.from_state(state)
    assert model.cfg.views.same_day is False and model.cfg.views.climatology is False and state["in_ch"] == 12
    assert np.isfinite(predict_case(model, tiny_case, TEST)[:, tiny_case["land"].values]).all()


def test_product_passes_smap_through(tiny_case):
    m = get_method("drcgan", preset="test", steps=2).fit(tiny_case, TRAIN)
    p = m.predict(tiny_case, TEST)
    sub = tiny_case.sel(time=slice(*TEST))
    v = valid_smap(sub).values
    np.testing.assert_array_equal(p.values[v], sub["smap"].values[v])
    land = sub["land"].values
    assert np.isfinite(p.values[:, land]).all() and np.isnan(p.values[:, ~land]).all()


@pytest.mark.parametrize("climatology", [False, True])
def test_streaming_chunks_are_exact(tiny_case, climatology):
    """Chunked inference equals one chunk (with the per-cell offset: taken from the whole case)."""
    tr = Trainer(get_config("test", steps=2, climatology=climatology), tiny_case, TRAIN).fit()
    state = tr.state_dict()
    full = predict_case(FusionModel.from_state(with_config(state, infer_chunk_days=1000)), tiny_case, TEST)
    chunked = predict_case(
        FusionModel.from_state(with_config(state, infer_chunk_days=7, infer_batch=3)),
        tiny_case,
        TEST,
    )
    np.testing.assert_allclose(full, chunked, atol=1e-6)


def test_bad_config_and_device(tiny_case):
    with pytest.raises(ConfigError, match="unknown key 'n_block'; did you mean 'n_blocks'"):
        get_method("drcgan", n_block=3)
    with pytest.raises(ConfigError, match="unknown DrcGAN preset"):
        get_config("huge")
    if not torch.cuda.is_available():
        with pytest.raises(MethodError, match="no CUDA GPU"):
            Trainer(get_config("test"), tiny_case, TRAIN, device="cuda")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_bf16_training_and_inference(tiny_case):
    m = get_method("drcgan", preset="test", steps=2, device="cuda").fit(tiny_case, TRAIN)
    p = m.predict(tiny_case, TEST)
    assert np.isfinite(p.values[:, tiny_case["land"].values]).all()


def _devices():
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", _devices())
@pytest.mark.parametrize(
    "two_sided,same_day,offset", [(True, False, False), (False, False, False), (True, True, False), (True, False, True)]
)
def test_device_input_builder_equals_numpy_builder(tiny_case, device, two_sided, same_day, offset):
    """The torch (device-side) inputs are the numpy builder's channels (CUDA too when present)."""
    from stsg_bench.fusion.device_inputs import DeviceInputBuilder

    norm = Normalizer.fit(tiny_case)
    ref = InputBuilder(tiny_case, norm, two_sided=two_sided, max_age=20, same_day=same_day, offset=offset)
    dev = DeviceInputBuilder(tiny_case, norm, two_sided, 20, torch.device(device), same_day, offset)
    t = np.array([0, 1, 5, 40, tiny_case.sizes["time"] - 1])
    got = dev.channels(torch.as_tensor(t, device=device)).cpu().numpy()
    np.testing.assert_allclose(got, ref.channels(t), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(dev.noah[torch.as_tensor(t, device=device)].cpu().numpy(), ref.noah[t])


def test_predict_case_with_device_inputs_equals_host_inputs(tiny_case):
    tr = Trainer(get_config("test", steps=2), tiny_case, TRAIN).fit()
    state = tr.state_dict()
    host = predict_case(FusionModel.from_state(with_config(state, device_inputs="never")), tiny_case, TEST)
    model = FusionModel.from_state(with_config(state, device_inputs="always", infer_chunk_days=9))
    assert model.builds_inputs_on_device()
    np.testing.assert_allclose(predict_case(model, tiny_case, TEST), host, rtol=0, atol=1e-6)


def test_cell_offset_is_the_mean_difference_and_spreads_to_unobserved_cells():
    """Own offset = mean SMAP - Noah over the usable days (>= MIN_OFFSET_DAYS of them); a cell without
    one gets its neighbours' (a constant offset field spreads as that constant); validity marks own."""
    rng = np.random.default_rng(0)
    T, Y, X = 40, 12, 16
    noah = rng.uniform(0.1, 0.3, (T, Y, X)).astype(np.float32)
    smap = (noah + 0.04 + rng.normal(0, 0.01, (T, Y, X))).astype(np.float32)
    valid = rng.random((T, Y, X)) < 0.6
    valid[:, 5:8, 6:10] = False  # never observed
    valid[: MIN_OFFSET_DAYS - 1, 0, 0], valid[MIN_OFFSET_DAYS - 1 :, 0, 0] = True, False  # too few days
    off, ok = cell_offset(np.where(valid, smap, np.nan), noah, valid)
    want = np.array([(smap[valid[:, 2, 3], 2, 3] - noah[valid[:, 2, 3], 2, 3]).mean()])
    np.testing.assert_allclose(off[2, 3], want[0], rtol=1e-5)
    assert not ok[5:8, 6:10].any() and not ok[0, 0] and ok[2, 3]
    value, own = offset_channels((np.full((Y, X), 0.04, np.float32), ok), 0.1)
    np.testing.assert_allclose(value, 0.4, rtol=1e-5)  # the neighbours' constant, / sd
    np.testing.assert_array_equal(own, ok.astype(np.float32))


def test_case_offset_reads_in_chunks_what_cell_offset_computes(tiny_case):
    v = valid_smap(tiny_case).values
    whole = cell_offset(tiny_case["smap"].values, tiny_case["noah"].values, v)
    for a, b in zip(case_offset(tiny_case, chunk_days=7), whole, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    norm = Normalizer.fit(tiny_case)
    b = InputBuilder(tiny_case, norm, two_sided=True, offset=True)
    assert b.n_channels == 14
    x = b.channels(np.array([3, 9]))
    np.testing.assert_array_equal(x[0, 9], x[1, 9])  # static in time
    np.testing.assert_array_equal(x[0, 10, :24, :30] > 0, whole[1][:24, :30])


def test_pretraining_steps_train_g_alone(tiny_case):
    """The first pretrain_fraction of the steps compute only the L1 term; the others join after."""
    tr = Trainer(get_config("test", steps=4, pretrain_fraction=0.5), tiny_case, TRAIN).fit()
    assert [tr.in_pretraining(k) for k in range(4)] == [True, True, False, False]
    assert all(h["cyc"] == 0 and h["adv"] == 0 and h["d"] == 0 for h in tr.history[:2])
    assert all(h["cyc"] > 0 and h["d"] > 0 for h in tr.history[2:])


def test_lazy_gan_terms_run_every_nth_step_with_their_weight_scaled(tiny_case, monkeypatch):
    """``gan_every = 2``: the cycle and adversarial terms and the discriminators' update on steps 0 and 2,
    G's L1 term alone on steps 1 and 3; where they run, their weights are x 2 (the G loss says so)."""
    tr = Trainer(get_config("test", steps=4, gan_every=2), tiny_case, TRAIN).fit()
    full = [h["adv"] > 0 and h["d"] > 0 for h in tr.history]  # (cyc is 0 at the residual nets' start)
    assert full == [True, False, True, False]
    assert all(h["cyc"] == 0 and h["rev"] == 0 and h["adv"] == 0 and h["d"] == 0 for h in tr.history[1::2])
    seen = []
    real_backward = torch.Tensor.backward

    def spy(self, *a, **k):  # the first backward of a step is G's loss
        seen.append(float(self.detach()))
        return real_backward(self, *a, **k)

    lazy = Trainer(get_config("test", steps=1, gan_every=2), tiny_case, TRAIN)
    monkeypatch.setattr(torch.Tensor, "backward", spy)
    h = lazy.train_step()
    c = lazy.cfg.losses
    want = c.lambda_rec * h["rec"] + 2 * (c.lambda_cyc * h["cyc"] + c.lambda_rev * h["rev"] + c.lambda_adv * h["adv"])
    assert seen[0] == pytest.approx(want, rel=1e-5)


def test_square_symmetries_are_the_eight_distinct_and_invert():
    """``fusion.symmetry``: 8 different images of a square, each undone by ``invert``, numpy and torch alike."""
    a = np.arange(2 * 3 * 4 * 4, dtype=np.float32).reshape(2, 3, 4, 4)
    seen = set()
    for k in range(8):
        b = symmetry.apply(a, k)
        np.testing.assert_array_equal(symmetry.invert(b, k), a)
        np.testing.assert_array_equal(symmetry.apply(torch.from_numpy(a), k).numpy(), b)
        seen.add(b.tobytes())
    assert len(seen) == 8
    np.testing.assert_array_equal(symmetry.apply(a, 5), np.flip(a.swapaxes(-1, -2), -1))  # transpose, then flip


def test_flipped_crops_keep_inputs_target_and_hole_together(tiny_case):
    """``flips``: each crop's arrays carry the same symmetry, so a crop drawn with flips equals one of the
    8 symmetries of the crop drawn without them from the same generator state."""
    plain_t = Trainer(get_config("test", flips=False), tiny_case, TRAIN)
    flip_t = Trainer(get_config("test", flips=True), tiny_case, TRAIN)
    plain = plain_t.data.sample(np.random.default_rng(5), plain_t.target_days, plain_t.crop)
    flipped = flip_t.data.sample(np.random.default_rng(5), flip_t.target_days, flip_t.crop)
    moved = 0
    for i in range(len(plain["x"])):
        ks = [k for k in range(8) if np.array_equal(symmetry.apply(plain["x"][i], k), flipped["x"][i])]
        assert ks, f"crop {i}: not a symmetry of the plain crop"
        for key in ("smap", "valid", "noah", "hole"):
            assert any(np.array_equal(symmetry.apply(plain[key][i], k), flipped[key][i]) for k in ks), key
        moved += ks != [0]
    assert moved > 0


def test_test_time_augmentation_averages_the_symmetries(tiny_case):
    """``tta = N``: the mean over the first N symmetries of G applied to the transformed input, transformed
    back; ``tta = 1`` is G alone. Bad values are refused."""
    state = Trainer(get_config("test", steps=3), tiny_case, TRAIN).fit().state_dict()
    model = FusionModel.from_state(state)
    x = torch.randn(2, int(state["in_ch"]), 24, 24, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        once = model.G(x)
        assert not torch.allclose(once, symmetry.invert(model.G(symmetry.apply(x, 5)), 5))  # G is not symmetric
        for n in (1, 2, 4, 8):
            tta = FusionModel(model.cfg.replace(tta=n), model.norm, model.G, model.device)._generator(x)
            want = torch.stack([symmetry.invert(model.G(symmetry.apply(x, k)), k) for k in range(n)]).mean(0)
            torch.testing.assert_close(tta, want)
        torch.testing.assert_close(FusionModel(model.cfg, model.norm, model.G, model.device)._generator(x), once)
    with pytest.raises(ConfigError, match="tta must be 1, 2, 4 or 8"):
        model.cfg.replace(tta=3)
