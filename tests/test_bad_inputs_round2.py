"""Bad-input audit, round two (issue 36), in-process through the real CLI so it runs in the fast subset.

Every case is prepared in its own folder, run with ``stsg_bench.cli.main`` and held to the same rules:
exit 2 with one line on stderr naming the file (or the option) and the problem, no traceback; and a walk of
the whole test area before and after finds nothing written, replaced or removed anywhere (the named output
is not created). Cases that must *succeed* (a grid off by rounding, user files that look like temporaries)
assert their result instead.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

from stsg_bench.case import open_case, save_case
from stsg_bench.cli import main


def cli(*args) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main([str(a) for a in args])
    return rc, err.getvalue().strip()


def snapshot(*roots: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``roots`` with its size and modification time (symlinks not followed)."""
    out = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                p = Path(dirpath) / name
                st = p.lstat()
                out[str(p)] = (st.st_size if not p.is_dir() else 0, st.st_mtime_ns if not p.is_dir() else 0)
    return out


def flip_bytes(src: Path, dst: Path) -> Path:
    """A copy of netCDF file ``src`` with 256 bytes flipped inside the first stored chunk of its largest
    variable: damage in the data itself, which only the file's checksums (or compression) can reveal."""
    import h5py

    with h5py.File(src, "r") as f:
        names = [k for k in f if isinstance(f[k], h5py.Dataset) and f[k].ndim >= 2]
        d = f[max(names, key=lambda k: f[k].size)]
        info = d.id.get_chunk_info(0) if d.chunks else None
        offset, size = (info.byte_offset, info.size) if info else (d.id.get_offset(), d.id.get_storage_size())
    raw = bytearray(src.read_bytes())
    span = min(256, size)
    raw[offset : offset + span] = bytes(b ^ 0xFF for b in raw[offset : offset + span])
    dst.write_bytes(bytes(raw))
    return dst


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """A tiny twin, a fused product, its scores, a trained checkpoint and an external lat/lon source."""
    from test_external import latlon_product

    w = tmp_path_factory.mktemp("world")
    assert cli("twin", "--preset", "tiny", "--out", w / "twin")[0] == 0
    case = w / "twin" / "case.nc"
    assert cli("fuse", "--method", "noah_raw", "--case", case, "--out", w / "noah.nc")[0] == 0
    assert cli("score", "--case", case, "--products", w / "noah.nc", "--out", w / "r.nc")[0] == 0
    cfg = w / "t.toml"
    cfg.write_text('method = "drcgan"\n[config]\npreset = "test"\nsteps = 2\n')
    assert cli("train", "--case", case, "--config", cfg, "--out", w / "m.pt")[0] == 0
    latlon_product(open_case(case)).to_netcdf(w / "src.nc")
    return w


@dataclass
class Bad:
    """One bad input: ``prepare(world, folder)`` writes what it needs in ``folder`` and returns the
    arguments; the run must fail with every word of ``words`` in its one-line error."""

    name: str
    prepare: Callable[[Path, Path], list]
    words: tuple[str, ...]


def _with_case(fn):
    def prepare(w, d):
        ds = open_case(w / "twin" / "case.nc")
        return fn(w, d, ds)

    return prepare


def _product_edit(edit):
    def prepare(w, d):
        ds = xr.open_dataset(w / "noah.nc").load()
        edit(ds)
        ds.to_netcdf(d / "p.nc")
        return ["score", "--case", w / "twin" / "case.nc", "--products", d / "p.nc", "--out", d / "out.nc"]

    return prepare


def _pct_from_day_41(ds):
    ds["sm"][41:] = ds["sm"][41:] * 100


def _results_edit(edit, reference: bool = False):
    def prepare(w, d):
        ds = xr.open_dataset(w / "r.nc").load()
        ds = edit(ds)
        for var in ds.variables.values():
            var.encoding = {}
        ds.to_netcdf(d / "bad.nc")
        if reference:
            (d / "ref").mkdir()
            ds.to_netcdf(d / "ref" / "results.nc")
            return ["check", w / "r.nc", "--reference", d / "ref"]
        return ["check", d / "bad.nc", "--reference", w / "r.nc"]

    return prepare


def _tolerances(text):
    def prepare(w, d):
        (d / "ref").mkdir()
        shutil.copy(w / "r.nc", d / "ref" / "results.nc")
        (d / "tol.toml").write_text(text)
        return ["check", w / "r.nc", "--reference", d / "ref", "--tolerances", d / "tol.toml"]

    return prepare


def _method_config(text, command="fuse"):
    def prepare(w, d):
        (d / "m.toml").write_text(text)
        if command == "train":
            return ["train", "--case", w / "twin" / "case.nc", "--config", d / "m.toml", "--out", d / "out.pt"]
        return [
            "fuse",
            "--method",
            "drcgan",
            "--case",
            w / "twin" / "case.nc",
            "--config",
            d / "m.toml",
            "--out",
            d / "o.nc",
        ]

    return prepare


def _ismn(mutate):
    def prepare(w, d):
        shutil.copytree(w / "twin" / "ismn", d / "ismn", symlinks=True)
        source = mutate(d / "ismn", d)
        return [
            "score",
            "--case",
            w / "twin" / "case.nc",
            "--products",
            w / "noah.nc",
            "--insitu",
            source,
            "--out",
            d / "o.nc",
        ]

    return prepare


def _fuse_with_checkpoint(w, d) -> list:
    case = w / "twin" / "case.nc"
    return ["fuse", "--method", "drcgan", "--case", case, "--checkpoint", d / "bad.pt", "--out", d / "o.nc"]


def _checkpoint(edit):
    def prepare(w, d):
        state = torch.load(w / "m.pt", map_location="cpu", weights_only=True)
        edit(state)
        torch.save(state, d / "bad.pt")
        return _fuse_with_checkpoint(w, d)

    return prepare


def _wrong_head(state):
    key = next(k for k in state["nets"] if k.startswith("G.") and k.endswith("weight"))
    state["nets"] = {k: (torch.zeros(3, 3) if k == key else v) for k, v in state["nets"].items()}
    state["selected"] = {}


def _garbage_checkpoint(w, d):
    (d / "bad.pt").write_bytes(np.random.default_rng(0).bytes(4096))
    return _fuse_with_checkpoint(w, d)


def _nan_weights(state):
    state["nets"] = {k: (v * float("nan") if v.is_floating_point() else v) for k, v in state["nets"].items()}


def _two_versions(w, d):
    (d / "src" / "v1").mkdir(parents=True)
    (d / "src" / "v2").mkdir()
    shutil.copy(w / "src.nc", d / "src" / "v1" / "sm.nc")
    src = xr.open_dataset(w / "src.nc").load()
    (src * 0.9).assign_attrs(src.attrs).to_netcdf(d / "src" / "v2" / "sm.nc")
    return ["product", "import", d / "src", "--case", w / "twin" / "case.nc", "--out", d / "o.nc"]


def _external_card(name):
    def prepare(w, d):
        (d / "card.toml").write_text(f'kind = "twin"\npreset = "tiny"\n[[external]]\nname = "{name}"\npath = "x.nc"\n')
        return ["case", d / "card.toml", "--out", d / "c.nc"]

    return prepare


def _fifo_ismn(root, d):
    os.mkfifo(d / "only.stm")
    return d / "only.stm"


def _not_a_zip(root, d):
    (d / "ismn.zip").write_text("this is not a zip archive")
    return d / "ismn.zip"


def _damaged_zip_member(root, d):
    with zipfile.ZipFile(d / "ismn.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(root.rglob("*.stm")):
            zf.write(p, p.relative_to(root).as_posix())
    raw = bytearray((d / "ismn.zip").read_bytes())
    raw[200:400] = bytes(200)  # inside the first member's compressed data
    (d / "ismn.zip").write_bytes(bytes(raw))
    return d / "ismn.zip"


BAD = [
    # names that would become paths or clash with a method's products
    Bad("external-name-dotdot", _external_card("../../precious"), ("card.toml", "external[0].name", "letter")),
    Bad("external-name-companion", _external_card("drcgan:paper"), ("external[0].name",)),
    Bad("external-name-dot", _external_card("esa.seed1"), ("external[0].name",)),
    Bad("external-name-method", _external_card("drcgan"), ("already a method",)),
    Bad(
        "import-name",
        lambda w, d: [
            "product",
            "import",
            w / "src.nc",
            "--case",
            w / "twin" / "case.nc",
            "--out",
            d / "o.nc",
            "--name",
            "a/b",
        ],
        ("--name", "a/b"),
    ),
    # damaged files
    Bad(
        "damaged-product",
        lambda w, d: [
            "score",
            "--case",
            w / "twin" / "case.nc",
            "--products",
            flip_bytes(w / "noah.nc", d / "p.nc"),
            "--out",
            d / "o.nc",
        ],
        ("p.nc", "damaged"),
    ),
    Bad(
        "damaged-case-fuse",
        lambda w, d: [
            "fuse",
            "--method",
            "noah_raw",
            "--case",
            flip_bytes(w / "twin" / "case.nc", d / "c.nc"),
            "--out",
            d / "o.nc",
        ],
        ("c.nc", "damaged"),
    ),
    Bad(
        "damaged-results-report",
        lambda w, d: ["report", flip_bytes(w / "r.nc", d / "r.nc"), "--out", d / "rep"],
        ("r.nc",),
    ),
    Bad(
        "damaged-results-check",
        lambda w, d: ["check", flip_bytes(w / "r.nc", d / "r.nc"), "--reference", w / "r.nc"],
        ("r.nc",),
    ),
    Bad("ismn-not-a-zip", _ismn(_not_a_zip), ("ismn.zip", "zip")),
    Bad("ismn-fifo", _ismn(_fifo_ismn), ("only.stm", "not a regular file")),
    Bad("checkpoint-wrong-head", _checkpoint(_wrong_head), ("bad.pt", "does not fit")),
    Bad("checkpoint-nan", _checkpoint(_nan_weights), ("bad.pt", "not finite")),
    Bad("checkpoint-garbage", _garbage_checkpoint, ("bad.pt", "not a readable checkpoint")),
    # the gate's own inputs
    Bad(
        "results-version-word",
        _results_edit(lambda ds: ds.assign_attrs(results_version="two")),
        ("bad.nc", "results_version"),
    ),
    Bad(
        "results-version-float",
        _results_edit(lambda ds: ds.assign_attrs(results_version="2.9")),
        ("bad.nc", "results_version"),
    ),
    Bad(
        "results-no-window-all",
        _results_edit(lambda ds: ds.sel(window=[w for w in ds.window.values if w != "all"])),
        ("bad.nc", "window"),
    ),
    Bad(
        "results-no-pooled",
        _results_edit(lambda ds: ds.sel(group=[g for g in ds.group.values if g != "pooled"])),
        ("bad.nc", "group"),
    ),
    Bad(
        "reference-all-n-zero",
        _results_edit(lambda ds: ds.assign(n=ds["n"] * 0), reference=True),
        ("results.nc", "no scored sample"),
    ),
    Bad("tolerance-word", _tolerances('[tolerances]\nRMSE = "small"\n'), ("tol.toml", "tolerances.RMSE")),
    Bad("tolerance-list", _tolerances("[tolerances]\nRMSE = [0.1]\n"), ("tol.toml", "tolerances.RMSE")),
    Bad("tolerance-not-table", _tolerances("tolerances = 3\n"), ("tol.toml", "tolerances")),
    Bad("tolerance-bool", _tolerances("[tolerances]\nbias = true\n"), ("tol.toml", "tolerances.bias")),
    Bad("tolerance-nan", _tolerances("[tolerances]\nRMSE = nan\n"), ("tol.toml", "tolerances.RMSE")),
    Bad("tolerance-top-level-nan", _tolerances("tolerance = nan\n"), ("tol.toml", "tolerance", "did you mean")),
    # silently wrong before
    Bad("percent-from-day-41", _product_edit(_pct_from_day_41), ("p.nc", "[sm]", "percent")),
    Bad("import-two-versions", _two_versions, ("sm.nc", "two products or versions")),
    Bad(
        "config-misspelt-table",
        _method_config('method = "drcgan"\n[confg]\nsteps = 2\n'),
        ("m.toml", "confg", "did you mean 'config'"),
    ),
    Bad(
        "config-top-level-preset",
        _method_config('method = "drcgan"\npreset = "paper"\n'),
        ("m.toml", "preset", "[config]"),
    ),
    Bad("config-negative-steps", _method_config('method = "drcgan"\n[config]\nsteps = -5\n'), ("m.toml", "steps")),
    Bad("config-string-crop", _method_config('method = "drcgan"\n[config]\ncrop = "16"\n'), ("m.toml", "crop")),
    Bad(
        "train-config-missing",
        lambda w, d: ["train", "--case", w / "twin" / "case.nc", "--config", d / "nope.toml", "--out", d / "o.pt"],
        ("nope.toml", "no such"),
    ),
    Bad("train-seeds", _method_config('method = "drcgan"\n[config]\nseeds = 2\n', "train"), ("m.toml", "seeds = 1")),
    Bad("threads-huge", lambda w, d: ["--threads", "99999999999", "methods"], ("--threads", "1024")),
    Bad(
        "train-few-smap",
        _with_case(
            lambda w, d, ds: (
                save_case(ds.assign(smap=ds["smap"].where(ds["smap"] < -1)), d / "c.nc")
                or ["train", "--case", d / "c.nc", "--config", "test", "--out", d / "o.pt"]
            )
        ),
        ("usable SMAP",),
    ),
    Bad(
        "score-days-outside",
        _product_edit(lambda ds: ds.update({"time": ds["time"] + np.timedelta64(400, "D")})),
        ("no day in the scored period",),
    ),
]


@pytest.mark.parametrize("bad", BAD, ids=[b.name for b in BAD])
def test_bad_input_is_one_line_and_writes_nothing(world, tmp_path, bad):
    args = bad.prepare(world, tmp_path)
    before = snapshot(world, tmp_path)
    rc, err = cli(*args)
    assert rc == 2, (rc, err)
    assert err.count("\n") == 0 and "Traceback" not in err and "error:" in err, err
    for word in bad.words:
        assert word in err, err
    assert snapshot(world, tmp_path) == before  # nothing written, replaced or removed anywhere


def test_files_named_like_temporaries_survive(world, tmp_path):
    """The stale-temporary clean-up removes only names it makes (``.NAME.PID.TOKEN.stsg-tmp`` of a dead
    PID), never a user's hidden file that merely starts like one."""
    keep = [".out.nc.20240101", ".out.nc.1999.md", ".out.nc.99999999.old", ".out.nc.lock", ".rep.31337.old"]
    for name in keep:
        (tmp_path / name).write_text("user data")
    stale = tmp_path / ".out.nc.999999999.abcdefgh.stsg-tmp"  # what a killed run leaves (PID never running)
    stale.write_text("half-written")
    case = world / "twin" / "case.nc"
    assert cli("score", "--case", case, "--products", world / "noah.nc", "--out", tmp_path / "out.nc")[0] == 0
    assert cli("report", world / "r.nc", "--out", tmp_path / "rep")[0] == 0
    for name in keep:
        assert (tmp_path / name).read_text() == "user data", name
    assert not stale.exists()


def test_foreign_lock_file_is_refused_not_removed(world, tmp_path):
    lock = tmp_path / ".out.nc.stsg-lock"
    lock.write_text("my notes")
    rc, err = cli(
        "score", "--case", world / "twin" / "case.nc", "--products", world / "noah.nc", "--out", tmp_path / "out.nc"
    )
    assert rc == 2 and "not an stsg-bench lock" in err
    assert lock.read_text() == "my notes"


def test_resume_refuses_years_made_from_other_case_values(world, tmp_path):
    case = world / "twin" / "case.nc"
    out = tmp_path / "years"
    args = ["fuse", "--method", "lin_cdf_match", "--case", case, "--chunk-by-year", "--out", out]
    assert cli(*args)[0] == 0
    other = open_case(case)
    save_case(other.assign(noah=other["noah"] * 0.8), tmp_path / "other.nc")  # same window, days and land
    before = snapshot(out)
    rc, err = cli("fuse", "--method", "lin_cdf_match", "--case", tmp_path / "other.nc", "--chunk-by-year", "--out", out)
    assert rc == 2 and "run_fingerprint" in err and "--restart" in err, err
    assert snapshot(out) == before


def test_scoring_order_does_not_matter(world, tmp_path):
    case = world / "twin" / "case.nc"
    ext = tmp_path / "ext.nc"
    assert cli("product", "import", world / "src.nc", "--case", case, "--out", ext, "--name", "ext")[0] == 0
    assert cli("score", "--case", case, "--products", ext, world / "noah.nc", "--out", tmp_path / "a.nc")[0] == 0
    assert cli("score", "--case", case, "--products", world / "noah.nc", ext, "--out", tmp_path / "b.nc")[0] == 0
    a, b = xr.open_dataset(tmp_path / "a.nc"), xr.open_dataset(tmp_path / "b.nc")
    b = b.sel({"product": list(a["product"].values)})
    np.testing.assert_array_equal(a["n"].values, b["n"].values)
    np.testing.assert_array_equal(a["value"].values, b["value"].values)
    n = a["n"].sel(reference="truth", group="pooled", split="all", window="all")
    assert int(n.sel({"product": "ext"})) <= int(n.sel({"product": "noah_raw"}))  # the test period only, not all days
    assert a.attrs["test_period"] == b.attrs["test_period"]


def test_grid_off_by_rounding_is_scored(world, tmp_path):
    ds = xr.open_dataset(world / "noah.nc").load()
    ds.assign_coords(x=ds["x"] + 0.5).to_netcdf(tmp_path / "p.nc")
    rc, err = cli(
        "score", "--case", world / "twin" / "case.nc", "--products", tmp_path / "p.nc", "--out", tmp_path / "o.nc"
    )
    assert rc == 0, err


def test_ismn_special_files_are_skipped_and_reported(world, tmp_path):
    ismn = tmp_path / "ismn"
    shutil.copytree(world / "twin" / "ismn", ismn)
    first = sorted(ismn.rglob("*_sm_*.stm"))[0]
    os.mkfifo(first.with_name("fifo_sm_0.050000_0.050000_x_20170101_20171231.stm"))
    (first.with_name("zero_sm_0.050000_0.050000_x_20170101_20171231.stm")).symlink_to("/dev/zero")
    rc, err = cli(
        "score",
        "--case",
        world / "twin" / "case.nc",
        "--products",
        world / "noah.nc",
        "--insitu",
        ismn,
        "--out",
        tmp_path / "o.nc",
    )
    assert rc == 0, err
    notes = xr.open_dataset(tmp_path / "o.nc").attrs.get("notes", "") + err
    assert notes.count("not a regular file") >= 2


def test_damaged_zip_member_is_reported_not_raised(world, tmp_path):
    source = _damaged_zip_member(world / "twin" / "ismn", tmp_path)
    rc, err = cli(
        "score",
        "--case",
        world / "twin" / "case.nc",
        "--products",
        world / "noah.nc",
        "--insitu",
        source,
        "--out",
        tmp_path / "o.nc",
    )
    assert "Traceback" not in err
    assert rc in (0, 2), err
    if rc == 0:
        assert "damaged member" in err + xr.open_dataset(tmp_path / "o.nc").attrs.get("notes", "")
