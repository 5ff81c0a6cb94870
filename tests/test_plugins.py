"""Plug-ins from outside the package: a small distribution declaring entry points is installed into a
temporary folder with pip, and the command line sees its method and metric (``fuse``, ``run``); a bare
module works through ``--plugin``; a broken plug-in is one line."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import xarray as xr

CLI = [sys.executable, "-m", "stsg_bench.cli"]

PLUGIN = textwrap.dedent(
    '''
    """An stsg-bench plug-in: one method and one metric."""
    from dataclasses import dataclass

    import numpy as np

    from stsg_bench.methods import Method, MethodConfig, register
    from stsg_bench.validation.metrics import Metric, register_metric


    @dataclass
    class OffsetConfig(MethodConfig):
        pass


    @register
    class PlugOffset(Method):
        name, order, kind = "plug_offset", 66, "gap_filler"
        Config, description, needs_fit, halo_days = OffsetConfig, "Noah + the mean SMAP - Noah offset", True, 0

        def _fit(self, train):
            self.offset = float((train["smap"] - train["noah"]).where(train["smap_quality"]).mean())

        def _predict(self, case, out):
            return out["noah"].values + self.offset


    @register_metric
    class PlugSdRatio(Metric):
        name, long_name, better, units = "plug_sd_ratio", "s_p / s_r", "one", "1"
        ci_method, tolerance, tables = "none", 0.05, ("split",)

        def value(self, m):
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.sqrt(m.var_p / m.var_r)

        def ci(self, m, alpha=0.05):
            nan = np.full(np.shape(m.n), np.nan)
            return nan, nan
    '''
)

PYPROJECT = textwrap.dedent(
    """
    [build-system]
    requires = ["setuptools>=61"]
    build-backend = "setuptools.build_meta"

    [project]
    name = "stsg-plug-example"
    version = "0.1"

    [project.entry-points."stsg_bench.methods"]
    plug_offset = "stsg_plug_example"

    [project.entry-points."stsg_bench.metrics"]
    plug_sd_ratio = "stsg_plug_example"

    [tool.setuptools]
    py-modules = ["stsg_plug_example"]
    """
)


def run(*args, env=None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(CLI + [str(a) for a in args], capture_output=True, text=True, timeout=600, env=env, cwd=cwd)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """The plug-in distribution installed (pip, no network) into a temporary folder; the environment
    that puts that folder on the path."""
    root = tmp_path_factory.mktemp("plugin")
    src = root / "src"
    src.mkdir()
    (src / "pyproject.toml").write_text(PYPROJECT)
    (src / "stsg_plug_example.py").write_text(PLUGIN)
    target = root / "site"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(src),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert list(target.glob("stsg_plug_example-0.1.dist-info"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(target), os.environ.get("PYTHONPATH")]))}
    return {"env": env, "root": root}


@pytest.mark.slow  # pip-installs a package and runs the chain in subprocesses
def test_installed_plugin_method_and_metric_work_from_the_command_line(installed, tmp_path):
    env = installed["env"]
    listing = run("methods", env=env)
    assert listing.returncode == 0 and "plug_offset" in listing.stdout
    assert "plug_offset" not in run("methods").stdout  # not installed here: not there
    twin = tmp_path / "twin"
    assert run("twin", "--preset", "tiny", "--out", twin, env=env).returncode == 0
    r = run("fuse", "--method", "plug_offset", "--case", twin / "case.nc", "--out", tmp_path / "p.nc", env=env)
    assert r.returncode == 0, r.stderr
    assert xr.open_dataset(tmp_path / "p.nc")["sm"].attrs["method"] == "plug_offset"
    (tmp_path / "run.toml").write_text('dataset = "twin-tiny"\nmethods = ["noah_raw", "plug_offset"]\n')
    r = run("run", tmp_path / "run.toml", "--out", tmp_path / "out", env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    res = xr.open_dataset(tmp_path / "out" / "results.nc")
    assert "plug_offset" in res["product"].values and "plug_sd_ratio" in res["metric"].values


def test_plugin_option_imports_a_module(tmp_path):
    (tmp_path / "my_methods.py").write_text(PLUGIN.replace("plug_offset", "my_offset").replace("plug_sd", "my_sd"))
    r = run("--plugin", "my_methods", "methods", cwd=tmp_path)
    assert r.returncode == 0 and "my_offset" in r.stdout, r.stderr
    bad = run("--plugin", "no_such_module_here", "methods", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "no_such_module_here" in bad.stderr


@pytest.mark.slow
def test_broken_installed_plugin_warns_and_the_rest_works(installed, tmp_path):
    site = tmp_path / "site"
    dist = site / "broken_plug-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plug\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[stsg_bench.methods]\nbroken = broken_plug_missing_module\n")
    env = {**installed["env"], "PYTHONPATH": f"{site}{os.pathsep}{installed['env']['PYTHONPATH']}"}
    r = run("methods", env=env)
    assert r.returncode == 0 and "noah_raw" in r.stdout and "plug_offset" in r.stdout
    assert "broken" in r.stderr and "failed to load" in r.stderr
