"""What every registered method promises the workflows, checked for each entry of ``list_methods()``."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest

from stsg_bench.case import valid_smap
from stsg_bench.methods import KINDS, Method, get_method, list_methods, load_method_config, method_class, register
from stsg_bench.methods.stream import predict_lazy

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ("2017-01-01", "2017-02-28")
TEST = ("2017-03-01", "2017-04-30")
#: smaller settings so the contract runs in seconds (the methods' own tests use their real settings)
#: every DrcGAN variant (a new one is covered without being named here)
FAST = {
    name: {"steps": 3, "crop": 16, "batch_size": 2}
    for name in list_methods()
    if name.startswith("drcgan") and "optimiser" in {f.name for f in dataclasses.fields(method_class(name).Config)}
}


def test_registry_order_is_declared_order():
    names = list_methods()
    orders = [method_class(n).order for n in names]
    assert orders == sorted(orders) and len(set(names)) == len(names)


@pytest.mark.parametrize("name", list_methods())
def test_method_contract(tiny_case, name):
    cls = method_class(name)
    assert cls.kind in KINDS and cls.description
    m = get_method(name, **FAST.get(name, {}))
    assert m.halo_days is None or (isinstance(m.halo_days, int) and m.halo_days >= 0)
    m.fit(tiny_case, TRAIN, progress=False)
    if m.combines():  # built from others (ensembles): their products handed over, made as a run makes them
        made = {n: get_method(n, **FAST.get(n, {})).fit(tiny_case, TRAIN) for n in m.combines()}
        m.given_products({n: x.predict(tiny_case, TEST) for n, x in made.items()}, tiny_case)
    p = m.predict(tiny_case, TEST)
    sub = tiny_case.sel(time=slice(*TEST))
    land = sub["land"].values
    assert p.dims == ("time", "y", "x") and p.sizes["time"] == sub.sizes["time"]
    assert p.attrs["method"] == name and p.attrs["method_kind"] == cls.kind and p.attrs["units"] == "m3 m-3"
    assert np.isnan(p.values[:, ~land]).all()
    if cls.kind != "model" and m.config.passthrough:  # usable SMAP passes through unchanged
        v = valid_smap(sub).values
        np.testing.assert_array_equal(p.values[v], sub["smap"].values[v])
    if cls.kind != "observation":  # complete on land
        assert np.isfinite(p.values[:, land]).all()
    if cls.supports_checkpoint:
        assert "checkpoint" in {f.name for f in dataclasses.fields(cls.Config)}


@pytest.mark.parametrize("name", list_methods())
def test_baseline_config_file_equals_the_defaults(name):
    """``baselines/NAME.toml`` documents every option with its default (optional ones as comments); it is
    packaged data, found by name (``fuse --config NAME``)."""
    path = ROOT / "stsg_bench" / "resources" / "baselines" / f"{name}.toml"
    assert path.is_file(), f"every registered method has a config file: {path} is missing"
    method, cfg = load_method_config(path)
    assert method == name and load_method_config(name) == (method, cfg)
    defaults = dataclasses.asdict(method_class(name).make_config())
    assert set(cfg) <= set(defaults), f"{path}: keys that are not options: {sorted(set(cfg) - set(defaults))}"
    text = path.read_text()
    for key, value in defaults.items():
        if value is None:
            assert re.search(rf"^#\s*{key}\s*=", text, re.M), f"{path}: show the optional '{key}' as a comment"
        else:
            assert key in cfg, f"{path}: option '{key}' missing (default {value!r})"
            got = tuple(cfg[key]) if isinstance(cfg[key], list) else cfg[key]
            assert got == value, f"{path}: {key} = {got!r} differs from the default {value!r}"


def test_methods_never_see_the_truth(tiny_case):
    """The base class removes the twin's truth before any hook runs, eager and streamed."""
    seen: list[bool] = []

    class Spy(Method):
        name, order, halo_days = "spy", 999, 0

        def _fit(self, train):
            seen.append("truth" in train)

        def _predict(self, case, out):
            seen.append("truth" in case or "truth" in out)
            return out["noah"].values

    assert "truth" in tiny_case
    spy = Spy().fit(tiny_case, TRAIN)
    spy.predict(tiny_case, TEST)
    predict_lazy(spy, tiny_case.chunk({"time": 30}), TEST, chunk_days=30).compute()
    assert seen and not any(seen)


def test_register_checks_the_declarations():
    class NoOrder(Method):
        name, halo_days = "no_order", 0

        def _predict(self, case, out):
            return out["noah"].values

    class NoHalo(Method):
        name, order = "no_halo", 1

        def _predict(self, case, out):
            return out["noah"].values

    class BadKind(NoOrder):
        name, order, kind = "bad_kind", 1, "oracle"

    with pytest.raises(TypeError, match="must declare an integer 'order'"):
        register(NoOrder)
    with pytest.raises(TypeError, match="must declare 'halo_days'"):
        register(NoHalo)
    with pytest.raises(TypeError, match="kind 'oracle'"):
        register(BadKind)
    assert not {"no_order", "no_halo", "bad_kind"} & set(list_methods())
